package index

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unsafe"
	"weak"

	gitops "github.com/gitops-status/gitops-status"
)

// TestEntryHoldsNoPointer keeps Entry free of pointers: entries live in
// chunks allocated as bytes, which the collector does not scan, so a
// pointer in one would not keep what it points to alive.
func TestEntryHoldsNoPointer(t *testing.T) {
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, path string) {
		switch typ.Kind() {
		case reflect.Pointer, reflect.UnsafePointer, reflect.String, reflect.Slice, reflect.Map,
			reflect.Chan, reflect.Func, reflect.Interface:
			t.Errorf("Entry.%s is a %s: an entry must hold no pointer", path, typ.Kind())
		case reflect.Struct:
			for i := range typ.NumField() {
				walk(typ.Field(i).Type, strings.TrimPrefix(path+"."+typ.Field(i).Name, "."))
			}
		case reflect.Array:
			walk(typ.Elem(), path+"[]")
		}
	}
	walk(reflect.TypeFor[Entry](), "")
}

// TestCompact replaces a fleet's entries many times in random batches,
// some of them with heads larger than a chunk shares, while a reader
// holds entries it looked up earlier. It checks after every batch that the
// index finds every server's latest record, that no more than a fifth of
// its chunks' bytes is dead once it has compacted, that its count of live
// bytes is exact, that the entries the reader holds still read as they
// did, and that chunks the index emptied are collected.
func TestCompact(t *testing.T) {
	defer func(n uint32) { compactAfter = n }(compactAfter)
	compactAfter = 64 << 10

	rng := rand.New(rand.NewPCG(5, 6))
	in := NewInterner()
	const n = 3000
	record := func(i, version int) *Entry {
		sv := gitops.Server{ServerGroup: fmt.Sprintf("g%d", i%7), Host: fmt.Sprintf("host-%05d", i),
			CommitSHA: fmt.Sprintf("%040x", version), Status: gitops.StatusSynced}
		if rng.IntN(500) == 0 { // a head too large to share a chunk
			sv.ChangedFiles = make([]string, bigRecord/20)
			for j := range sv.ChangedFiles {
				sv.ChangedFiles[j] = fmt.Sprintf("roles/r%06d.yml", j)
			}
		}
		return in.NewEntry(&sv, sv.AppendJSONHead(nil))
	}
	latest := make([]*Entry, n)
	for i := range latest {
		latest[i] = record(i, 0)
	}
	x := New(append([]*Entry(nil), latest...))

	type held struct {
		e    *Entry
		head []byte
	}
	var reader []held
	var emptied []weak.Pointer[byte]
	compacted := false
	for batch := 1; batch <= 300; batch++ {
		final := map[gitops.Key]*Entry{}
		for range 1 + rng.IntN(100) {
			i := rng.IntN(n)
			latest[i] = record(i, batch)
			final[latest[i].Key()] = latest[i]
		}
		if batch%10 == 0 {
			e := x.Get(latest[rng.IntN(n)].Key())
			reader = append(reader, held{e, bytes.Clone(e.Head())})
		}
		before := make(map[unsafe.Pointer]bool, len(x.chunks))
		for c := range x.chunks {
			before[c] = true
		}
		x.Publish(final)

		var total, live, sum uint64
		for c, u := range x.chunks {
			total += uint64(used(c).Load())
			live += uint64(u)
		}
		for _, e := range latest {
			got := x.Get(e.Key())
			if got == nil || !bytes.Equal(got.Head(), e.Head()) {
				t.Fatalf("batch %d: %v reads %q, want %q", batch, e.Key(), got.Head(), e.Head())
			}
			if _, ok := x.chunks[got.chunk()]; !ok {
				t.Fatalf("batch %d: %v is in a chunk the index does not count", batch, e.Key())
			}
			sum += uint64(got.size)
		}
		if live != sum {
			t.Fatalf("batch %d: the index counts %d live bytes, its entries hold %d", batch, live, sum)
		}
		// What is dead beyond what was dropped since the last look is
		// within the bound once the chunks that look queued are emptied.
		if dead := int64(total-live) - int64(x.dropped); len(x.queue) == 0 && dead*5 > int64(total) {
			t.Fatalf("batch %d: %d of %d bytes are dead", batch, total-live, total)
		}
		for c := range before {
			if _, ok := x.chunks[c]; !ok {
				compacted = true
				emptied = append(emptied, weak.Make((*byte)(c)))
			}
		}
		for _, h := range reader {
			if !bytes.Equal(h.e.Head(), h.head) {
				t.Fatalf("batch %d: an entry a reader holds changed under it", batch)
			}
		}
	}
	var total, live uint64
	for c, u := range x.chunks {
		total += uint64(used(c).Load())
		live += uint64(u)
	}
	if (total-live)*4 > total {
		t.Errorf("after every batch, %d of %d bytes are dead", total-live, total)
	}
	if !compacted {
		t.Fatal("the index never let a chunk go: the test did not reach compaction")
	}
	reader, latest = nil, nil
	runtime.GC()
	runtime.GC()
	kept := 0
	for _, w := range emptied {
		if w.Value() != nil {
			kept++
		}
	}
	// The Interner's current chunk may be among them, and stays.
	if kept > 1 {
		t.Errorf("%d of %d chunks the index let go are still alive", kept, len(emptied))
	}
	runtime.KeepAlive(x)
}
