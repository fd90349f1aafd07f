/** Types of sandbox/fhir-server.mjs for the TypeScript that starts a FHIR server (the demo). */
export interface FhirServer {
  baseUrl: string;
  /** True when it is KAP_FHIR_BASE_URL's, not started here. */
  external: boolean;
  /** The sandbox's java process, when started here. */
  pid?: number;
  logFile?: string;
  startupMs?: number;
  stop(): Promise<void>;
}

export function provideFhirServer(opts?: {
  external?: string;
  waitMs?: number;
  timeoutMs?: number;
  leaveRunning?: boolean;
  /** The sandbox's JVM flags, in place of the test run's. */
  javaOpts?: string[];
  log?: (msg: string) => void;
}): Promise<FhirServer>;
