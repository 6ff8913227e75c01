// Command demt-convert is the native command-line tool of demt-web: it inspects PyTorch
// checkpoints and .demt files, converts checkpoints to .demt, runs inference on an image
// or a normalised array, and verifies a model against an official fixture. It only parses
// flags, calls the library packages and prints; docs/cli.md is its reference.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// converterVersion is recorded in the metadata of every .demt file this program writes.
const converterVersion = "0.1.0"

const progName = "demt-convert"

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
	// exitInterrupted is the status after SIGINT or SIGTERM.
	exitInterrupted = 130
)

func main() {
	e := &env{stdout: os.Stdout, stderr: os.Stderr, outputs: &outputSet{}}
	handleInterrupts(e)
	os.Exit(runEnv(os.Args[1:], e))
}

// env is what a command writes to: results to stdout, progress and diagnostics to stderr.
type env struct {
	stdout, stderr io.Writer
	outputs        *outputSet // the files being written, cleaned up on an interrupt
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(e *env, args []string) error
}

func commands() []command {
	return []command{
		{"inspect", "show what a checkpoint or .demt file holds, or the plan of its forward pass", cmdInspect},
		{"convert", "convert a PyTorch checkpoint to a .demt file", cmdConvert},
		{"infer", "run the model on an image or a normalised .npy array", cmdInfer},
		{"verify", "compare a model's forward pass (or the metrics) with an official fixture", cmdVerify},
		{"export", "write a model's weights as a PyTorch state dict (.pth)", cmdExport},
		{"bench", "time the forward pass: median/min/max seconds, GMAC/s, peak memory", cmdBench},
		{"synth", "render synthetic indoor scenes with exact labels for every task", cmdSynth},
		{"eval", "accumulate the official metrics of a model over a dataset split", cmdEval},
	}
}

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelp means the help text was printed on request: exit status 0.
var errHelp = errors.New("help requested")

// run executes the command line args (without the program name) and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	return runEnv(args, &env{stdout: stdout, stderr: stderr, outputs: &outputSet{}})
}

// runEnv is run with a given env.
func runEnv(args []string, e *env) int {
	return runWithRecover(e.stderr, func() int { return runCommand(args, e) })
}

// runWithRecover calls fn and turns a panic, which is a bug, into a one-line internal error
// and exit status 1 (no stack trace).
func runWithRecover(stderr io.Writer, fn func() int) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "%s: internal error: %s\n", progName, oneLine(fmt.Sprint(r)))
			code = exitFail
		}
	}()
	return fn()
}

func runCommand(args []string, e *env) int {
	if len(args) == 0 {
		printUsage(e.stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "--version", "-version", "version":
		fmt.Fprintf(e.stdout, "%s %s\n", progName, converterVersion)
		return exitOK
	case "-h", "-help", "--help", "help":
		if name == "help" && len(rest) > 0 {
			return report(e, dispatch(e, rest[0], []string{"--help"}))
		}
		printUsage(e.stdout)
		return exitOK
	}
	return report(e, dispatch(e, name, rest))
}

func dispatch(e *env, name string, args []string) error {
	for _, c := range commands() {
		if c.name == name {
			return c.run(e, args)
		}
	}
	return usagef("unknown command %q (run '%s --help')", name, progName)
}

// report prints err as one line on stderr and returns the exit status it means.
func report(e *env, err error) int {
	if err == nil || errors.Is(err, errHelp) {
		return exitOK
	}
	fmt.Fprintf(e.stderr, "%s: %s\n", progName, oneLine(err.Error()))
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFail
}

// oneLine joins the lines of a message so every error is exactly one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s <command> [flags] [args]\n\ncommands:\n", progName)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun '%s <command> --help' for the flags of a command.\n", progName)
	fmt.Fprintf(w, "Run '%s --version' for the version.\n", progName)
	fmt.Fprintf(w, "Exit status: 0 success, 1 failure, 2 usage error.\n")
}

// newFlagSet makes the flag set of a subcommand; usage is its synopsis line and about
// what it does.
func newFlagSet(name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parseFlags reports errors; --help prints to stdout
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: %s %s\n\n%s\n\nflags:\n", progName, synopsis, about)
		printFlags(w, fs)
	}
	return fs
}

// parseFlags parses a subcommand's arguments. Flags may come before or after the
// positional arguments ("--" ends the flags). On --help it prints the usage to stdout
// and returns errHelp; a bad flag is a usage error.
func parseFlags(e *env, fs *flag.FlagSet, args []string) ([]string, error) {
	err := fs.Parse(reorderArgs(fs, args))
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(e.stdout)
		fs.Usage()
		return nil, errHelp
	}
	if err != nil {
		return nil, usagef("%s: %v (run '%s %s --help')", fs.Name(), err, progName, fs.Name())
	}
	return fs.Args(), nil
}

// reorderArgs moves every flag (with its value, for non-boolean flags given as
// "-f value") in front of the positional arguments, followed by "--".
func reorderArgs(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil || isBoolFlag(f) || i+1 >= len(args) {
			continue
		}
		flags = append(flags, args[i+1])
		i++
	}
	return append(append(flags, "--"), pos...)
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// printFlags lists the flags of fs as the documentation writes them: "--name" ("-o" for
// one-letter names), the value's placeholder, the usage and any non-zero default.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		placeholder, usage := flag.UnquoteUsage(f)
		if isBoolFlag(f) {
			placeholder = ""
		}
		line := "  " + dash + f.Name
		if placeholder != "" {
			line += " " + placeholder
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}
