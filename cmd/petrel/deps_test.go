package main

import (
	"bytes"
	"errors"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const modPath = "github.com/petrel-chat/petrel"

// pkgInfo is what the guards need to know about one package directory.
type pkgInfo struct {
	dir      string   // relative to the repo root, slash-separated
	name     string   // package name of non-test files
	imports  []string // imports of non-test files
	docFiles []string // non-test files carrying a package comment
	goFiles  int
	lines    int // lines of non-test files
}

func loadPackages(t *testing.T) map[string]*pkgInfo {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	pkgs := map[string]*pkgInfo{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, path, src, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		p := pkgs[rel]
		if p == nil {
			p = &pkgInfo{dir: rel, name: f.Name.Name}
			pkgs[rel] = p
		}
		p.goFiles++
		p.lines += bytes.Count(src, []byte("\n"))
		if f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package "+f.Name.Name+" ") ||
			f.Doc != nil && f.Name.Name == "main" && strings.HasPrefix(f.Doc.Text(), "Command ") {
			p.docFiles = append(p.docFiles, filepath.Base(path))
		}
		for _, im := range f.Imports {
			s, _ := strconv.Unquote(im.Path.Value)
			p.imports = append(p.imports, s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 5 {
		t.Fatalf("found only %d packages: is the walk rooted at the repository?", len(pkgs))
	}
	return pkgs
}

// TestFolderOnlyRoots: crypto/, sync/ and relay/ hold subpackages only, so no package shadows
// the standard library's crypto or sync, or libp2p's relay (STYLE.md convention 1).
func TestFolderOnlyRoots(t *testing.T) {
	root, _ := filepath.Abs("../..")
	for _, d := range []string{"crypto", "sync", "relay"} {
		ents, err := os.ReadDir(filepath.Join(root, d))
		if errors.Is(err, fs.ErrNotExist) {
			continue // not built yet (git keeps no empty folders)
		}
		if err != nil {
			t.Fatalf("%s/: %v", d, err)
		}
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".go") {
				t.Errorf("%s/%s: Go files must live in a subpackage of %s/", d, e.Name(), d)
			}
		}
	}
}

// TestOneDocPerPackage: every package has exactly one file with the package comment, and it
// is doc.go (STYLE.md convention 2).
func TestOneDocPerPackage(t *testing.T) {
	for _, p := range loadPackages(t) {
		if len(p.docFiles) != 1 || p.docFiles[0] != "doc.go" {
			t.Errorf("%s: package comment in %v; want exactly one, in doc.go, opening \"Package %s …\"", p.dir, p.docFiles, p.name)
		}
	}
}

// TestBannedNames: no vague package names (STYLE.md convention 1).
func TestBannedNames(t *testing.T) {
	for _, p := range loadPackages(t) {
		switch p.name {
		case "util", "utils", "common", "helpers", "misc", "crypto", "sync":
			t.Errorf("%s: package name %q is vague or shadows a standard package", p.dir, p.name)
		}
	}
}

// TestDependencyDirection: crypto imports no networking, storage, node, sync or relay; sync
// imports no node or relay; relay imports no node; only cmd/petrel imports both node and
// relay; no production package imports testing (STYLE.md "Dependency direction").
func TestDependencyDirection(t *testing.T) {
	type rule struct {
		under  string
		banned []string
	}
	rules := []rule{
		{"crypto/", []string{"net", "net/http", "github.com/libp2p/", "github.com/dgraph-io/badger", modPath + "/node", modPath + "/sync", modPath + "/relay", modPath + "/pushbridge", modPath + "/webui"}},
		{"sync/", []string{"github.com/dgraph-io/badger", modPath + "/node", modPath + "/relay", modPath + "/webui"}},
		{"relay/", []string{modPath + "/node", modPath + "/webui"}},
		{"pushbridge/", []string{modPath + "/node"}},
	}
	for _, p := range loadPackages(t) {
		for _, im := range p.imports {
			if im == "testing" && !strings.HasSuffix(p.name, "test") {
				t.Errorf("%s imports testing outside a test helper package", p.dir)
			}
			for _, r := range rules {
				if !strings.HasPrefix(p.dir+"/", r.under) {
					continue
				}
				for _, b := range r.banned {
					if im == b || strings.HasPrefix(im, strings.TrimSuffix(b, "/")+"/") || strings.HasSuffix(b, "/") && strings.HasPrefix(im, b) {
						t.Errorf("%s imports %s, which %s must not depend on", p.dir, im, r.under)
					}
				}
			}
		}
	}
}

// TestNodeFloors: the packages inside node/ stand on floors, and an import only points
// down (docs/ARCHITECTURE.md, "Floors inside node/"): the façade (package node, the local
// API and the messenger) over feature packages, over the pairwise core (what two parties
// share), over foundations; internal/ is under all of them and imports nothing of petrel.
// A feature package imports no other feature package. Every package under node/ must be
// on a floor, so a new one is placed before it lands. A feature's part (a subpackage of
// it, such as node/groups/grouplog) stands under its feature and is imported by that
// feature or the façade only.
func TestNodeFloors(t *testing.T) {
	const (
		foundation = iota
		core
		part
		feature
		facade
		testHelper
	)
	floors := map[string]int{
		"node/api": foundation, "node/store": foundation, "node/wire": foundation,
		"node/eventlog": foundation, "node/invite": foundation, "node/p2phost": foundation,
		"node/shredkeys": foundation, "node/settings": foundation,
		"node/sessions":   core,
		"node/contacts":   core,
		"node/history":    core,
		"node/receipts":   core,
		"node/outbox":     core,
		"node/inbox":      core,
		"node/devices":    core,
		"node/acquaint":   core,
		"node/reach":      core,
		"node/homerelays": feature, "node/push": feature, "node/media": feature, "node/presence": feature,
		"node/groups": feature, "node/expiry": feature,
		"node/devicelink":      feature,
		"node/groups/grouplog": part, "node/groups/groupmail": part, "node/groups/owed": part,
		"node/groups/chains": part, "node/groups/members": part, "node/groups/gossip": part,
		"node/media/filemeta": part, "node/media/blobdir": part, "node/media/mediarec": part,
		"node/messenger": facade, "node/localapi": facade, "node": facade, "node/attachments": facade, "node/devicesync": facade,
		"node/localapi/mediaapi": facade, "node/storeformat": facade, "node/presencebook": facade, "node/mailintake": facade,
		"node/localclient": testHelper, "node/nodetest": testHelper, "node/nodetest/wait": testHelper, "node/store/storetest": testHelper,
	}
	names := []string{"foundation", "pairwise core", "feature part", "feature", "façade", "test helper"}
	pkgs := loadPackages(t)
	for dir, p := range pkgs {
		if strings.HasPrefix(dir, "internal/") {
			for _, im := range p.imports {
				if strings.HasPrefix(im, modPath+"/") {
					t.Errorf("%s imports %s: internal/ is under every floor and imports nothing of petrel", dir, im)
				}
			}
			continue
		}
		if dir != "node" && !strings.HasPrefix(dir, "node/") {
			continue
		}
		floor, ok := floors[dir]
		if !ok {
			t.Errorf("%s is on no floor: place it in TestNodeFloors and docs/ARCHITECTURE.md", dir)
			continue
		}
		if floor == testHelper {
			continue
		}
		for _, im := range p.imports {
			dep, ok := strings.CutPrefix(im, modPath+"/")
			if !ok || dep != "node" && !strings.HasPrefix(dep, "node/") {
				continue
			}
			df, known := floors[dep]
			switch {
			case !known:
			case df == testHelper:
				t.Errorf("%s imports the test helper %s", dir, dep)
			case df > floor:
				t.Errorf("%s (%s) imports %s (%s): an arrow back up", dir, names[floor], dep, names[df])
			case df == feature && floor == feature:
				t.Errorf("%s imports %s: feature packages do not import each other", dir, dep)
			case df == part && floor == feature && !strings.HasPrefix(dep, dir+"/"):
				t.Errorf("%s imports %s: a feature's parts are its own", dir, dep)
			case df == part && floor == part && path.Dir(dep) != path.Dir(dir):
				t.Errorf("%s imports %s: a part imports no other feature's parts", dir, dep)
			}
		}
	}
	for dir := range floors {
		if pkgs[dir] == nil {
			t.Errorf("TestNodeFloors places %s, which does not exist", dir)
		}
	}
}

// maxNodePackageLines bounds a package under node/, in lines of its non-test files
// (issue 12): past it a package holds more than one concern and is split along a seam.
const maxNodePackageLines = 2500

// TestNodePackageSize: every package under node/ has at most maxNodePackageLines non-test
// lines. The known exceptions are listed with their size today as a ceiling that may only
// go down: lower the number when the package shrinks, remove the entry once it is under
// the limit.
func TestNodePackageSize(t *testing.T) {
	// No exceptions today (issue 12 brought node/messenger under the limit); a package that
	// must stay over it for a while gets an entry with its size, which may only go down.
	ceilings := map[string]int{}
	pkgs := loadPackages(t)
	for dir, p := range pkgs {
		if dir != "node" && !strings.HasPrefix(dir, "node/") {
			continue
		}
		limit, known := ceilings[dir]
		switch {
		case !known && p.lines > maxNodePackageLines:
			t.Errorf("%s has %d lines (non-test), over %d: split it along a seam (issue 12)", dir, p.lines, maxNodePackageLines)
		case known && p.lines > limit:
			t.Errorf("%s has %d lines (non-test), over its ceiling %d: it may only shrink", dir, p.lines, limit)
		case known && p.lines <= maxNodePackageLines:
			t.Errorf("%s has %d lines, within %d: remove its ceiling", dir, p.lines, maxNodePackageLines)
		}
	}
	for dir := range ceilings {
		if pkgs[dir] == nil {
			t.Errorf("TestNodePackageSize has a ceiling for %s, which does not exist", dir)
		}
	}
}
