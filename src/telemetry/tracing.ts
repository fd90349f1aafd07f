/**
 * Traces with OpenTelemetry, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (or a test gives an
 * exporter): a span per HTTP request (continuing the caller's W3C `traceparent`), per store
 * transaction and per EHR request (which carries `traceparent` on to the EHR). Off, the API's
 * no-op tracer costs next to nothing. Spans carry route templates, FHIR types and codes, never an
 * id, a name or an error message (which may quote an id): see README, "What is and is not logged".
 */
import {
  type Attributes,
  type Context,
  context,
  isSpanContextValid,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-node';

const tracer = () => trace.getTracer('kap-bridge');

/** Runs `run` in a span, a child of the active one; the span ends when it settles, marked an error if it throws. */
export function inSpan<T>(
  name: string,
  attributes: Attributes,
  run: (span: Span) => Promise<T>,
  options: { kind?: SpanKind; parent?: Context } = {},
): Promise<T> {
  return tracer().startActiveSpan(
    name,
    { attributes, kind: options.kind ?? SpanKind.CLIENT },
    options.parent ?? context.active(),
    async (span) => {
      try {
        return await run(span);
      } catch (e) {
        // The error's class (and an EHR error's kind) only: messages may quote ids.
        const err = e as { name?: string; kind?: string; status?: number };
        span.setAttribute('error.type', err.kind ?? err.name ?? 'Error');
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw e;
      } finally {
        span.end();
      }
    },
  );
}

/** The span of one HTTP request: started when it arrives, named by its route template when answered. */
export interface RequestSpan {
  /** The trace id, when tracing is on. */
  traceId?: string;
  /** Runs the rest of the request's handling inside the span. */
  run(next: () => void): void;
  end(route: string | undefined, status: number): void;
}

export function requestSpan(
  method: string,
  headers: Record<string, string | string[] | undefined>,
): RequestSpan {
  const parent = incomingContext(headers);
  const span = tracer().startSpan(
    `${method}`,
    { kind: SpanKind.SERVER, attributes: { 'http.request.method': method } },
    parent,
  );
  const own = span.spanContext();
  const active = trace.setSpan(parent, span);
  return {
    ...(isSpanContextValid(own) && span.isRecording() ? { traceId: own.traceId } : {}),
    run: (next) => context.with(active, next),
    end(route, status) {
      if (route) {
        span.updateName(`${method} ${route}`);
        span.setAttribute('http.route', route);
      }
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    },
  };
}

/** `fn` bound to the active trace context, for a callback that an event of another context calls. */
export const bindContext = <F extends (...args: never[]) => unknown>(fn: F): F =>
  context.bind(context.active(), fn);

/** The W3C trace context headers of the active span, for a request kap-bridge makes. */
export function traceHeaders(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

/** The caller's trace context from a request's headers (`traceparent`, `tracestate`). */
export const incomingContext = (headers: Record<string, string | string[] | undefined>): Context =>
  propagation.extract(context.active(), headers);

/** The active span's trace id, for log lines; undefined when tracing is off or no span is active. */
export function activeTraceId(): string | undefined {
  const span = trace.getActiveSpan()?.spanContext();
  return span && isSpanContextValid(span) ? span.traceId : undefined;
}

export interface Tracing {
  /** Sends what is buffered and stops tracing. */
  shutdown(): Promise<void>;
}

/**
 * Starts tracing for the process: OTLP over HTTP to `endpoint` (the exporter reads the rest of the
 * OTEL_EXPORTER_OTLP_* variables itself), or to the exporter given (tests: in memory, each span as
 * it ends).
 */
export function startTracing(options: {
  endpoint?: string;
  exporter?: SpanExporter;
  version: string;
}): Tracing {
  const processor = options.exporter
    ? new SimpleSpanProcessor(options.exporter)
    : new BatchSpanProcessor(
        new OTLPTraceExporter(
          options.endpoint ? { url: `${options.endpoint.replace(/\/+$/, '')}/v1/traces` } : {},
        ),
      );
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'kap-bridge', 'service.version': options.version }),
    spanProcessors: [processor],
  });
  provider.register();
  return {
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

export { SpanKind };
