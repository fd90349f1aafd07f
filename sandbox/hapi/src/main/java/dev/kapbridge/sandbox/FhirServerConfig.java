package dev.kapbridge.sandbox;

import ca.uhn.fhir.batch2.config.Batch2JobRegisterer;
import ca.uhn.fhir.batch2.jobs.bulkmodify.reindex.ReindexProvider;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.binstore.DatabaseBinaryContentStorageSvcImpl;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.config.SubscriptionSettings;
import ca.uhn.fhir.jpa.packages.IPackageInstallerSvc;
import ca.uhn.fhir.jpa.packages.PackageInstallOutcomeJson;
import ca.uhn.fhir.jpa.packages.PackageInstallationSpec;
import ca.uhn.fhir.jpa.provider.IJpaSystemProvider;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.SubscriptionTriggeringProvider;
import ca.uhn.fhir.jpa.provider.ValueSetOperationProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.jpa.subscription.match.deliver.email.IEmailSender;
import ca.uhn.fhir.narrative2.NullNarrativeGenerator;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.HardcodedServerAddressStrategy;
import ca.uhn.fhir.rest.server.IncomingRequestAddressStrategy;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import jakarta.persistence.EntityManagerFactory;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import javax.sql.DataSource;
import org.hl7.fhir.dstu2.model.Subscription.SubscriptionChannelType;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Primary;
import org.springframework.core.env.Environment;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;
import org.springframework.transaction.annotation.EnableTransactionManagement;

/**
 * The beans HAPI's JPA configuration expects from the application: storage and subscription
 * settings, the entity manager factory, the transaction manager and the RESTful server.
 *
 * <p>Every setting is read from the Spring environment under the hapi.fhir.* names that the
 * official hapiproject/hapi image uses (defaults in application.yaml).
 */
@Configuration
@EnableTransactionManagement
public class FhirServerConfig {

	private final Environment env;

	public FhirServerConfig(Environment env) {
		this.env = env;
	}

	private boolean bool(String key, boolean def) {
		return env.getProperty("hapi.fhir." + key, Boolean.class, def);
	}

	private int integer(String key, int def) {
		return env.getProperty("hapi.fhir." + key, Integer.class, def);
	}

	private long lng(String key, long def) {
		return env.getProperty("hapi.fhir." + key, Long.class, def);
	}

	private String str(String key, String def) {
		return env.getProperty("hapi.fhir." + key, def);
	}

	private Set<String> set(String key) {
		String[] values = env.getProperty("hapi.fhir." + key, String[].class, new String[0]);
		return Arrays.stream(values).map(String::trim).filter(s -> !s.isEmpty()).collect(Collectors.toSet());
	}

	@Bean
	public JpaStorageSettings jpaStorageSettings() {
		JpaStorageSettings s = new JpaStorageSettings();
		s.setAllowExternalReferences(bool("allow_external_references", true));
		s.setAllowMultipleDelete(bool("allow_multiple_delete", true));
		s.setExpungeEnabled(bool("expunge_enabled", true));
		s.setDeleteExpungeEnabled(bool("delete_expunge_enabled", false));
		s.setAutoCreatePlaceholderReferenceTargets(bool("auto_create_placeholder_reference_targets", false));
		s.setEnforceReferentialIntegrityOnWrite(bool("enforce_referential_integrity_on_write", true));
		s.setEnforceReferentialIntegrityOnDelete(bool("enforce_referential_integrity_on_delete", true));
		s.setMarkResourcesForReindexingUponSearchParameterChange(
				bool("mark_resources_for_reindexing_upon_search_parameter_change", true));

		s.setResourceClientIdStrategy(JpaStorageSettings.ClientIdStrategyEnum.valueOf(
				str("client_id_strategy", "ANY").trim().toUpperCase()));
		String serverIdStrategy = str("server_id_strategy", "");
		if (!serverIdStrategy.isBlank()) {
			s.setResourceServerIdStrategy(
					JpaStorageSettings.IdStrategyEnum.valueOf(serverIdStrategy.trim().toUpperCase()));
		} else if (s.getResourceClientIdStrategy() == JpaStorageSettings.ClientIdStrategyEnum.ANY) {
			// With ANY, server-assigned ids must not collide with numeric client ids.
			s.setResourceServerIdStrategy(JpaStorageSettings.IdStrategyEnum.UUID);
		}

		long reuseMillis = lng("reuse_cached_search_results_millis", -1);
		s.setReuseCachedSearchResultsForMillis(reuseMillis < 0 ? null : reuseMillis);
		s.setExpireSearchResultsAfterMillis(lng("retain_cached_searches_mins", 60) * 60_000L);
		s.setFetchSizeDefaultMaximum(integer("max_page_size", 200));

		Set<String> logical = set("logical_urls");
		if (!logical.isEmpty()) {
			s.setTreatReferencesAsLogical(new HashSet<>(logical));
		}
		Set<String> localBases = set("local_base_urls");
		if (!localBases.isEmpty()) {
			s.setTreatBaseUrlsAsLocal(new HashSet<>(localBases));
		}
		return s;
	}

	@Bean
	public SubscriptionSettings subscriptionSettings() {
		SubscriptionSettings s = new SubscriptionSettings();
		if (bool("subscription.resthook_enabled", true)) {
			s.addSupportedSubscriptionType(SubscriptionChannelType.RESTHOOK);
		}
		if (bool("subscription.websocket_enabled", false)) {
			s.addSupportedSubscriptionType(SubscriptionChannelType.WEBSOCKET);
		}
		long polling = lng("subscription.polling_interval_ms", -1);
		if (polling > 0) {
			s.setSubscriptionIntervalInMs(polling);
		}
		s.setSubscriptionChangeQueuedImmediately(bool("subscription.immediately_queued", false));
		String regex = str("subscription.resthook_endpoint_url_validation_regex", "");
		if (!regex.isBlank()) {
			s.setRestHookEndpointUrlValidationRegex(regex);
		}
		return s;
	}

	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings();
	}

	@Primary
	@Bean
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			ConfigurableListableBeanFactory beanFactory,
			FhirContext fhirContext,
			JpaStorageSettings storageSettings,
			DataSource dataSource) {
		LocalContainerEntityManagerFactoryBean emf =
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(beanFactory, fhirContext, storageSettings);
		Map<String, Object> props = new TreeMap<>();
		// Defaults; any spring.jpa.properties.* entry overrides them.
		props.put("hibernate.dialect", "ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect");
		props.put("hibernate.hbm2ddl.auto", "update");
		props.put("hibernate.archive.scanner", "org.hibernate.boot.archive.scan.internal.DisabledScanner");
		props.put(
				"hibernate.physical_naming_strategy",
				"org.hibernate.boot.model.naming.CamelCaseToUnderscoresNamingStrategy");
		props.put(
				"hibernate.implicit_naming_strategy",
				"org.springframework.boot.orm.jpa.hibernate.SpringImplicitNamingStrategy");
		props.put("hibernate.jdbc.batch_size", "20");
		props.put("hibernate.cache.use_query_cache", "false");
		props.put("hibernate.cache.use_second_level_cache", "false");
		props.put("hibernate.cache.use_structured_entries", "false");
		props.put("hibernate.cache.use_minimal_puts", "false");
		props.put("hibernate.format_sql", "false");
		props.put("hibernate.show_sql", "false");
		props.put("hibernate.search.enabled", "false");
		org.springframework.boot.context.properties.bind.Binder.get(env)
				.bind("spring.jpa.properties", org.springframework.boot.context.properties.bind.Bindable.mapOf(
						String.class, Object.class))
				.ifBound(bound -> flatten("", bound, props));
		emf.setPersistenceUnitName("HAPI_PU");
		emf.setDataSource(dataSource);
		emf.setJpaPropertyMap(props);
		return emf;
	}

	@SuppressWarnings("unchecked")
	private static void flatten(String prefix, Map<String, Object> in, Map<String, Object> out) {
		for (Map.Entry<String, Object> e : in.entrySet()) {
			String key = prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey();
			if (e.getValue() instanceof Map<?, ?> m) {
				flatten(key, (Map<String, Object>) m, out);
			} else {
				out.put(key, e.getValue());
			}
		}
	}

	@Primary
	@Bean
	public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
		JpaTransactionManager tm = new JpaTransactionManager();
		tm.setEntityManagerFactory(entityManagerFactory);
		return tm;
	}

	@Bean
	public DatabaseBinaryContentStorageSvcImpl databaseBinaryStorageSvc() {
		return new DatabaseBinaryContentStorageSvcImpl();
	}

	/** No e-mail subscriptions in the sandbox; the subscription module still wants a sender. */
	@Bean
	public IEmailSender emailSender() {
		return details -> {};
	}

	/** What hapi.fhir.implementationguides installed, by the key it is configured under. */
	public record InstalledPackages(Map<String, PackageInstallOutcomeJson> outcomes) {}

	/**
	 * The FHIR packages configured under hapi.fhir.implementationguides (the JPA starter's key and
	 * form: name, version, packageUrl, installMode, reloadExisting, fetchDependencies...), installed
	 * by HAPI's own package installer before the server answers. A package that cannot be installed
	 * stops the start-up.
	 */
	@Bean
	public InstalledPackages installedPackages(IPackageInstallerSvc installer, Batch2JobRegisterer batch2JobRegisterer) {
		Map<String, PackageInstallationSpec> guides = org.springframework.boot.context.properties.bind.Binder.get(env)
				.bind("hapi.fhir.implementationguides", org.springframework.boot.context.properties.bind.Bindable.mapOf(
						String.class, PackageInstallationSpec.class))
				.orElse(Map.of());
		Map<String, PackageInstallOutcomeJson> outcomes = new TreeMap<>();
		if (guides.isEmpty()) return new InstalledPackages(outcomes);
		batch2JobRegisterer.start();
		for (Map.Entry<String, PackageInstallationSpec> guide : guides.entrySet()) {
			PackageInstallationSpec spec = guide.getValue();
			long started = System.currentTimeMillis();
			PackageInstallOutcomeJson outcome = installer.install(spec);
			org.slf4j.LoggerFactory.getLogger(FhirServerConfig.class).info(
					"FHIR package {}#{} installed from {} in {} ms: {}",
					spec.getName(), spec.getVersion(), spec.getPackageUrl(),
					System.currentTimeMillis() - started, outcome.getResourcesInstalled());
			outcomes.put(guide.getKey(), outcome);
		}
		return new InstalledPackages(outcomes);
	}

	@Bean
	public RestfulServer restfulServer(
			InstalledPackages installedPackages,
			IFhirSystemDao<?, ?> systemDao,
			ResourceProviderFactory resourceProviderFactory,
			IJpaSystemProvider jpaSystemProvider,
			JpaStorageSettings storageSettings,
			ISearchParamRegistry searchParamRegistry,
			IValidationSupport validationSupport,
			DatabaseBackedPagingProvider pagingProvider,
			ValueSetOperationProvider valueSetOperationProvider,
			SubscriptionTriggeringProvider subscriptionTriggeringProvider,
			ReindexProvider reindexProvider) {
		FhirContext ctx = systemDao.getContext();
		ctx.setNarrativeGenerator(new NullNarrativeGenerator());
		RestfulServer server = new RestfulServer(ctx);
		server.registerProviders(resourceProviderFactory.createProviders());
		server.registerProvider(jpaSystemProvider);
		server.registerProvider(valueSetOperationProvider);
		server.registerProvider(subscriptionTriggeringProvider);
		server.registerProvider(reindexProvider);

		JpaCapabilityStatementProvider capabilities = new JpaCapabilityStatementProvider(
				server, systemDao, storageSettings, searchParamRegistry, validationSupport);
		capabilities.setImplementationDescription("kap-bridge HAPI FHIR sandbox (R4)");
		server.setServerConformanceProvider(capabilities);

		pagingProvider.setDefaultPageSize(integer("default_page_size", 20));
		pagingProvider.setMaximumPageSize(integer("max_page_size", 200));
		server.setPagingProvider(pagingProvider);

		server.setDefaultResponseEncoding(
				"xml".equalsIgnoreCase(str("default_encoding", "json").trim()) ? EncodingEnum.XML : EncodingEnum.JSON);
		server.setDefaultPrettyPrint(bool("default_pretty_print", false));

		String serverAddress = str("server_address", "");
		server.setServerAddressStrategy(
				serverAddress.isBlank()
						? new IncomingRequestAddressStrategy()
						: new HardcodedServerAddressStrategy(serverAddress));
		return server;
	}

	@Bean
	public ServletRegistrationBean<RestfulServer> fhirServletRegistration(RestfulServer restfulServer) {
		ServletRegistrationBean<RestfulServer> reg = new ServletRegistrationBean<>(restfulServer, "/fhir/*");
		reg.setName("fhir");
		reg.setLoadOnStartup(1);
		return reg;
	}
}
