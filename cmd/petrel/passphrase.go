package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// errNoPassphrase is returned when no passphrase source exists (API.md §1).
var errNoPassphrase = errors.New("no passphrase: set PETREL_PASSPHRASE, pass --passphrase-file FILE, or run in a terminal")

// readPassphrase takes the passphrase from PETREL_PASSPHRASE, else file, else a terminal
// prompt (twice when confirm is set).
func readPassphrase(env *cliEnv, file string, confirm bool) ([]byte, error) {
	if v := os.Getenv("PETREL_PASSPHRASE"); v != "" {
		return []byte(v), nil
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("passphrase file: %w", err)
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		if len(b) == 0 {
			return nil, errors.New("passphrase file is empty")
		}
		return b, nil
	}
	f, ok := env.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, errNoPassphrase
	}
	p, err := prompt(f, env.stderr, "Passphrase: ")
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, errors.New("empty passphrase")
	}
	if confirm {
		again, err := prompt(f, env.stderr, "Repeat passphrase: ")
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(p, again) {
			return nil, errors.New("passphrases do not match")
		}
	}
	return p, nil
}

func prompt(in *os.File, out io.Writer, msg string) ([]byte, error) {
	fmt.Fprint(out, msg)
	p, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(out)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	return p, nil
}
