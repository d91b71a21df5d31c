package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// commonFlags are shared by the subcommands that open a data directory.
type commonFlags struct {
	data           string
	passphraseFile string
	logLevel       string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.data, "data", "", "data directory (default: "+defaultDataDir()+")")
	fs.StringVar(&c.passphraseFile, "passphrase-file", "", "read the passphrase from this file")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
}

func (c *commonFlags) dataDir() string {
	if c.data != "" {
		return c.data
	}
	return defaultDataDir()
}

func (c *commonFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q", errUsage, c.logLevel)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})), nil
}

// parse parses args, turning flag errors into usage errors. Positional arguments are refused.
func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			var b strings.Builder
			fs.SetOutput(&b)
			fs.PrintDefaults()
			return helpError{flags: b.String()}
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// defaultDataDir is the platform's per-user data directory for petrel.
func defaultDataDir() string {
	switch runtime.GOOS {
	case "darwin":
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, "Library", "Application Support", "petrel")
		}
	case "windows":
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "petrel")
		}
	default:
		if d := os.Getenv("XDG_DATA_HOME"); d != "" {
			return filepath.Join(d, "petrel")
		}
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, ".local", "share", "petrel")
		}
	}
	return "petrel-data"
}

// helpError answers -h/--help: the caller prints the command's usage line and these flags.
type helpError struct{ flags string }

func (h helpError) Error() string { return "help requested" }
func (h helpError) Unwrap() error { return flag.ErrHelp }
