package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is the release this source tree will become.
const version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage")

type command struct {
	name, args, help string
	run              func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv is what a subcommand may touch: its streams, nothing global.
type cliEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func commands() []command {
	return []command{
		{"init", "--data DIR [--name NAME] [--passphrase-file FILE] [--link LINK [--relay MULTIADDR]...]", "create identity + encrypted store, or join your account as a new device (--link)", cmdInit},
		{"run", "--data DIR [--api 127.0.0.1:7733] [--listen MULTIADDR]... [--relay MULTIADDR]... [--passphrase-file FILE]", "run the node", cmdRun},
		{"relay", "--data DIR [--listen MULTIADDR]... [--config FILE]", "run a community relay (mailboxes, prekeys, circuit relay)", cmdRelay},
		{"demo", "[--api-port PORT]", "alice and bob on loopback in temp dirs, contacts already; prints both UI links", cmdDemo},
		{"version", "", "print the version", cmdVersion},
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &cliEnv{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err := c.run(ctx, env, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			fmt.Fprintf(stdout, "usage: petrel %s %s\n  %s\n\n", c.name, c.args, c.help)
			var h helpError
			if errors.As(err, &h) {
				fmt.Fprint(stdout, h.flags)
			}
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "petrel %s: %v\nusage: petrel %s %s\n", c.name, err, c.name, c.args)
			return 2
		default:
			fmt.Fprintf(stderr, "petrel %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "petrel: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  petrel %-8s %s\n      %s\n", c.name, c.args, c.help)
	}
	fmt.Fprintln(w, "\nThe passphrase comes from PETREL_PASSPHRASE, --passphrase-file FILE, or a prompt.")
}

func cmdVersion(ctx context.Context, env *cliEnv, args []string) error {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " (" + s.Value[:12] + ")"
			}
		}
		fmt.Fprintf(env.stdout, "petrel %s%s %s\n", version, rev, bi.GoVersion)
		return nil
	}
	fmt.Fprintf(env.stdout, "petrel %s\n", version)
	return nil
}
