// Package otel is Tollgate's own small OpenTelemetry tracer: W3C trace
// context (traceparent, tracestate) read and written, span records, a
// sampler, and an exporter that sends finished spans to an OTLP/HTTP
// collector as JSON, in batches, off the path of the calls being traced.
//
// It exists instead of the OpenTelemetry Go SDK because tracing is off by
// default and the SDK with its OTLP exporters links gRPC and protobuf into
// the binary: megabytes of code and start-up work that every run would pay
// for (issue 15 keeps idle memory and start-up time as measured goals).
// What Tollgate needs is a few span kinds and one wire format.
//
// A nil *Tracer is tracing turned off; callers check for nil once and do
// nothing else on the call's path.
package otel
