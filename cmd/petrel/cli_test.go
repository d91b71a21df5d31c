package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"petrel": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestCLI runs the txtar scripts in testdata/script: the petrel binary as a real process
// (testscript re-executes this test binary as "petrel").
func TestCLI(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir) // the default data dir must not be the tester's
			env.Setenv("XDG_DATA_HOME", filepath.Join(env.WorkDir, "xdg"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitfile": cmdWaitFile,
			"api":      cmdAPI,
			"signal":   cmdSignal,
			"fileperm": cmdFilePerm,
			"noplain":  cmdNoPlain,
			"dirhash":  cmdDirHash,
		},
	})
}

// waitfile FILE: wait up to 60 s for FILE to exist (with `!`, to disappear).
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: waitfile FILE")
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		_, err := os.Stat(path)
		if (err == nil) != neg {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	if neg {
		ts.Fatalf("%s still exists after 60 s", args[0])
	}
	ts.Fatalf("%s did not appear within 60 s", args[0])
}

// api [--token-from FILE] DATADIR METHOD PATH [BODY]: call the node whose api.json is in
// DATADIR (with the token of FILE, an older copy of an api.json, if given); print the status
// line and body to stdout. With `!`, expect a non-2xx answer.
func cmdAPI(ts *testscript.TestScript, neg bool, args []string) {
	tokenFrom := ""
	if len(args) > 2 && args[0] == "--token-from" {
		tokenFrom, args = args[1], args[2:]
	}
	if len(args) < 3 || len(args) > 4 {
		ts.Fatalf("usage: api [--token-from FILE] DATADIR METHOD PATH [BODY]")
	}
	var info struct{ URL, Token string }
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(filepath.Join(args[0], "api.json"))), &info))
	if tokenFrom != "" {
		var old struct{ Token string }
		ts.Check(json.Unmarshal([]byte(ts.ReadFile(tokenFrom)), &old))
		info.Token = old.Token
	}
	var body io.Reader
	if len(args) == 4 {
		body = strings.NewReader(args[3])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, args[1], info.URL+args[2], body)
	ts.Check(err)
	req.Header.Set("Authorization", "Bearer "+info.Token)
	resp, err := http.DefaultClient.Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Fprintf(ts.Stdout(), "%d\n%s\n", resp.StatusCode, b)
	if ok := resp.StatusCode/100 == 2; ok == neg {
		ts.Fatalf("%s %s: status %d: %s", args[1], args[2], resp.StatusCode, b)
	}
}

// signal NAME: send SIGNAME (TERM, INT, KILL) to every background command.
func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: signal TERM|INT|KILL")
	}
	sig := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL}[args[0]]
	if sig == 0 {
		ts.Fatalf("unknown signal %s", args[0])
	}
	cmds := ts.BackgroundCmds()
	if len(cmds) == 0 {
		ts.Fatalf("no background command to signal")
	}
	for _, c := range cmds {
		if c.Process != nil {
			c.Process.Signal(sig)
		}
	}
}

// fileperm FILE MODE: FILE's permission bits equal MODE (octal).
func cmdFilePerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: fileperm FILE MODE")
	}
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := fmt.Sprintf("%o", fi.Mode().Perm()); (got == args[1]) == neg {
		ts.Fatalf("%s has mode %s, want %s", args[0], got, args[1])
	}
}

// noplain DIR TEXT...: no file under DIR contains any TEXT (raw bytes).
func cmdNoPlain(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || neg {
		ts.Fatalf("usage: noplain DIR TEXT...")
	}
	root := ts.MkAbs(args[0])
	n := 0
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		if filepath.Base(p) == "api.json" {
			return nil // holds the API token by design, nothing the user wrote
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		for _, s := range args[1:] {
			if bytes.Contains(b, []byte(s)) {
				ts.Fatalf("%s contains plaintext %q", p, s)
			}
		}
		return nil
	})
	ts.Check(err)
	if n == 0 {
		ts.Fatalf("no files under %s", args[0])
	}
}

// dirhash DIR: print one SHA-256 over every file's path, mode and content under DIR.
func cmdDirHash(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: dirhash DIR")
	}
	root := ts.MkAbs(args[0])
	h := sha256.New()
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(h, "%s %v %d\n", rel, fi.Mode(), fi.Size())
		if fi.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		h.Write(b)
		return err
	})
	ts.Check(err)
	fmt.Fprintln(ts.Stdout(), hex.EncodeToString(h.Sum(nil)))
}
