package dev.kapbridge.sandbox;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import ca.uhn.fhir.jpa.subscription.match.config.SubscriptionProcessorConfig;
import ca.uhn.fhir.jpa.subscription.submit.config.SubscriptionSubmitterConfig;
import java.nio.file.Path;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.context.ApplicationListener;
import org.springframework.context.annotation.Import;
import org.springframework.core.env.Environment;

/**
 * kap-bridge HAPI FHIR sandbox: HAPI FHIR JPA server (R4) on H2, for local development and tests.
 *
 * <p>Environment: HAPI_PORT (default 8090), HAPI_BIND (default 127.0.0.1), HAPI_DB_FILE (H2 file
 * database path; default in-memory). All hapi.fhir.* settings live in application.yaml and can be
 * overridden like in the official hapiproject/hapi image (e.g. env hapi.fhir.client_id_strategy=ANY).
 */
@SpringBootApplication(
		excludeName = {
			"org.springframework.boot.autoconfigure.thymeleaf.ThymeleafAutoConfiguration",
			"org.springframework.boot.autoconfigure.elasticsearch.ElasticsearchRestClientAutoConfiguration",
			"org.springframework.boot.autoconfigure.elasticsearch.ElasticsearchClientAutoConfiguration",
			"org.springframework.boot.autoconfigure.data.elasticsearch.ElasticsearchDataAutoConfiguration",
			"org.springframework.boot.autoconfigure.quartz.QuartzAutoConfiguration",
			"org.springframework.boot.autoconfigure.batch.BatchAutoConfiguration",
			"org.springframework.boot.autoconfigure.mail.MailSenderAutoConfiguration",
			"org.springframework.boot.autoconfigure.mail.MailSenderValidatorAutoConfiguration",
			"org.springframework.boot.autoconfigure.websocket.servlet.WebSocketServletAutoConfiguration"
		})
@Import({
	JpaR4Config.class,
	HapiJpaConfig.class,
	ThreadPoolFactoryConfig.class,
	SubscriptionSubmitterConfig.class,
	SubscriptionProcessorConfig.class,
	SubscriptionChannelConfig.class,
	JpaBatch2Config.class,
	Batch2JobsConfig.class,
	FhirServerConfig.class
})
public class SandboxApplication implements ApplicationListener<ApplicationReadyEvent> {

	private static final Logger ourLog = LoggerFactory.getLogger(SandboxApplication.class);
	private static final long START = System.currentTimeMillis();

	public static void main(String[] args) throws Exception {
		if (args.length > 0 && args[0].equals("snapshots")) {
			// The FHIR package build (npm run build:package): no server, just HAPI's snapshot generator.
			System.exit(Snapshots.run(java.util.Arrays.copyOfRange(args, 1, args.length)));
		}
		String dbFile = System.getenv("HAPI_DB_FILE");
		if (dbFile != null && !dbFile.isBlank() && System.getProperty("spring.datasource.url") == null) {
			String path = Path.of(dbFile).toAbsolutePath().toString();
			if (path.toLowerCase(Locale.ROOT).endsWith(".mv.db")) {
				path = path.substring(0, path.length() - ".mv.db".length());
			}
			// No .trace.db file: Hibernate's harmless temporary-table DDL errors would fill it.
			System.setProperty("spring.datasource.url", "jdbc:h2:file:" + path + ";TRACE_LEVEL_FILE=0");
		}
		SpringApplication.run(SandboxApplication.class, args);
	}

	@Override
	public void onApplicationEvent(ApplicationReadyEvent event) {
		Environment env = event.getApplicationContext().getEnvironment();
		ourLog.info(
				"kap-hapi-sandbox ready: FHIR R4 at http://{}:{}{} (database {}) in {} ms",
				env.getProperty("server.address", "0.0.0.0"),
				env.getProperty("local.server.port", env.getProperty("server.port")),
				"/fhir",
				env.getProperty("spring.datasource.url"),
				System.currentTimeMillis() - START);
	}
}
