// Gentools turns an OpenAPI 3.0 description into the result of an MCP
// tools/list call: one tool per operation, the way an OpenAPI-backed MCP
// server exposes an HTTP API. It makes the repository's large tool-list test
// data, testdata/fusionauth-tools.json, from FusionAuth's public API
// description (testdata/fusionauth-openapi/openapi.yaml, Apache License 2.0).
//
// Run it from the repository root after replacing openapi.yaml with a newer
// one:
//
//	go run ./scripts/gentools
//
// or with other files:
//
//	go run ./scripts/gentools -in openapi.yaml -out tools.json
//
// The output is deterministic (operations in the order the description lists
// them, keys in the order it writes them), and TestCommittedToolsAreGenerated
// fails when the committed JSON is not what this program makes of the
// committed description. The mapping is documented in docs/testing.md.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "gentools: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gentools", flag.ContinueOnError)
	in := fs.String("in", "testdata/fusionauth-openapi/openapi.yaml", "the OpenAPI 3.0 description to read (YAML or JSON)")
	out := fs.String("out", "testdata/fusionauth-tools.json", "where to write the tools/list result")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("parse arguments: unexpected %q", fs.Arg(0))
	}
	spec, err := os.ReadFile(*in)
	if err != nil {
		return fmt.Errorf("read description: %w", err)
	}
	tools, err := generate(spec)
	if err != nil {
		return fmt.Errorf("generate %s: %w", *in, err)
	}
	if err := os.WriteFile(*out, tools, 0o644); err != nil {
		return fmt.Errorf("write tools: %w", err)
	}
	return nil
}
