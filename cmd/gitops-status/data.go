package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// runImport imports a v1 or v2 status.json by hand: servers in the file
// replace those with the same key, others stay. It fails only when the file
// cannot be read or is not a status.json at all; records it cannot use are
// skipped and counted.
func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg storeConfig
	fs := newFlagSet("import", "FILE")
	cfg.register(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"import takes one argument: the status.json file to import"}
	}
	file := fs.Arg(0)
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("cannot read %s: %v", file, cleanPathErr(err))
	}
	doc, err := gitops.ParseDocument(data, gitops.ParseOptions{Now: time.Now(), LegacyGroup: cfg.LegacyGroup})
	if err != nil {
		return fmt.Errorf("cannot import %s: %s", file, gitops.ErrorMessage(err))
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	if _, err := store.Import(ctx, doc.Servers, gitops.ImportReplace); err != nil {
		return fmt.Errorf("import failed, nothing was imported: %v", err)
	}
	if err := store.ImportHeads(ctx, doc.Heads); err != nil {
		return fmt.Errorf("the servers were imported, the heads (\"desired\") were not: %v", err)
	}
	for _, s := range doc.Skipped {
		fmt.Fprintf(stderr, "skipped %s\n", s)
	}
	fmt.Fprintf(stdout, "imported %d servers and %d heads from %s (v%s format), skipped %d\n", len(doc.Servers), len(doc.Heads), file, doc.Format, len(doc.Skipped))
	return store.Close()
}

// runExport writes every server as the v2 document on stdout: the format
// v2.0 loads, so it is also the way back.
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg storeConfig
	fs := newFlagSet("export", "")
	cfg.register(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{"export takes no arguments; it writes to stdout"}
	}
	store, err := openStoreForReading(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	servers, _, err := store.List(ctx, gitops.Filter{})
	if err != nil {
		return fmt.Errorf("export failed: %v", err)
	}
	heads, err := store.Heads(ctx)
	if err != nil {
		return fmt.Errorf("export failed: %v", err)
	}
	_, err = stdout.Write(gitops.ExportDocument(servers, heads))
	return err
}

// runMigrate applies the store's migrations and exits; serve applies them
// too, so this is for deployments that migrate before rolling out.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg storeConfig
	fs := newFlagSet("migrate", "")
	cfg.register(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if cfg.DatabaseURL != "" {
		n, err := migratePostgres(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "applied %d migrations\n", n)
		return nil
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "database is up to date")
	return store.Close()
}
