package dev.kapbridge.sandbox;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.context.support.ValidationSupportContext;
import ca.uhn.fhir.parser.IParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.PrePopulatedValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.ElementDefinition;
import org.hl7.fhir.r4.model.StructureDefinition;

/**
 * {@code java -jar kap-hapi-sandbox.jar snapshots IN_DIR OUT_DIR}: reads the StructureDefinitions,
 * CodeSystems and ValueSets in IN_DIR (kap-bridge's profiles/, differentials only), generates each
 * profile's snapshot with HAPI's snapshot generator (the FHIR core library's ProfileUtilities, with
 * the R4 core definitions of hapi-fhir-validation-resources-r4 as the base) and writes
 * {@code StructureDefinition-<id>.json} with differential and snapshot into OUT_DIR.
 *
 * <p>Exit 1, naming the profile, when a snapshot cannot be made or leaves out an element of the
 * differential (a path the base does not have, a slice the generator could not place).
 */
public final class Snapshots {

	private Snapshots() {}

	public static int run(String[] args) throws IOException {
		if (args.length != 2) {
			System.err.println("usage: java -jar kap-hapi-sandbox.jar snapshots IN_DIR OUT_DIR");
			return 2;
		}
		Path in = Path.of(args[0]);
		Path out = Path.of(args[1]);
		FhirContext ctx = FhirContext.forR4Cached();
		IParser parser = ctx.newJsonParser().setPrettyPrint(true);

		PrePopulatedValidationSupport local = new PrePopulatedValidationSupport(ctx);
		List<StructureDefinition> profiles = new ArrayList<>();
		List<Path> files;
		try (Stream<Path> list = Files.list(in)) {
			files = list.filter(p -> p.getFileName().toString().endsWith(".json")).sorted().toList();
		}
		for (Path file : files) {
			IBaseResource resource = parser.parseResource(Files.readString(file, StandardCharsets.UTF_8));
			local.addResource(resource);
			if (resource instanceof StructureDefinition sd) profiles.add(sd);
		}

		ValidationSupportChain chain = new ValidationSupportChain(
				new DefaultProfileValidationSupport(ctx),
				local,
				new InMemoryTerminologyServerValidationSupport(ctx),
				new CommonCodeSystemsTerminologyService(ctx));
		SnapshotGeneratingValidationSupport generator = new SnapshotGeneratingValidationSupport(ctx);
		ValidationSupportContext context = new ValidationSupportContext(chain);

		Files.createDirectories(out);
		List<String> failures = new ArrayList<>();
		for (StructureDefinition sd : profiles) {
			StructureDefinition input = sd.copy();
			input.setSnapshot(null);
			IBaseResource generated =
					generator.generateSnapshot(context, input, sd.getUrl(), sd.getUrl(), sd.getName());
			if (!(generated instanceof StructureDefinition withSnapshot) || !withSnapshot.hasSnapshot()) {
				failures.add(sd.getUrl() + ": no snapshot was generated");
				continue;
			}
			Set<String> snapshotIds = withSnapshot.getSnapshot().getElement().stream()
					.map(ElementDefinition::getId)
					.collect(Collectors.toSet());
			List<String> missing = sd.getDifferential().getElement().stream()
					.map(ElementDefinition::getId)
					.filter(id -> !snapshotIds.contains(id))
					.toList();
			if (!missing.isEmpty()) {
				failures.add(sd.getUrl() + ": the snapshot leaves out differential element(s) " + missing);
				continue;
			}
			withSnapshot.setText(null);
			Files.writeString(
					out.resolve("StructureDefinition-" + sd.getIdElement().getIdPart() + ".json"),
					parser.encodeResourceToString(withSnapshot) + "\n",
					StandardCharsets.UTF_8);
		}
		if (!failures.isEmpty()) {
			failures.forEach(f -> System.err.println("snapshot failed: " + f));
			return 1;
		}
		System.err.println("snapshots: " + profiles.size() + " profiles written to " + out);
		return 0;
	}
}
