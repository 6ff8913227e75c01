//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"runtime/debug"
	"syscall/js"
)

// job is one call from JavaScript waiting for the worker.
type job struct {
	f               func(args []js.Value) (any, error)
	args            []js.Value
	resolve, reject js.Value
}

// worker runs every job on one goroutine: the owner of the GPU device and the executors.
type worker struct {
	jobs     chan job
	sessions *sessions
}

func newWorker() *worker {
	return &worker{jobs: make(chan job, 64), sessions: newSessions()}
}

// serve runs the jobs in order, for ever.
func (w *worker) serve() {
	for j := range w.jobs {
		v, err := runJob(j)
		if err != nil {
			j.reject.Invoke(jsError(err))
			continue
		}
		j.resolve.Invoke(v)
	}
}

// runJob calls j.f, turning a panic into an error.
func runJob(j job) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v\n%s", r, debug.Stack())
		}
	}()
	return j.f(j.args)
}

// promise wraps f as a JS function returning a Promise: the callback only queues the job.
func (w *worker) promise(f func(args []js.Value) (any, error)) js.Func {
	return js.FuncOf(func(_ js.Value, args []js.Value) any {
		args = append([]js.Value(nil), args...)
		var executor js.Func
		executor = js.FuncOf(func(_ js.Value, pr []js.Value) any {
			executor.Release()
			select {
			case w.jobs <- job{f: f, args: args, resolve: pr[0], reject: pr[1]}:
			default:
				pr[1].Invoke(jsError(errors.New("busy: too many calls waiting")))
			}
			return nil
		})
		return js.Global().Get("Promise").New(executor)
	})
}

// codedError is an error with one of the DeMTError codes of web/demt.d.ts.
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func coded(code string, err error) error { return &codedError{code: code, err: err} }

// jsError makes a JS Error with the message of err and, for a codedError, its code.
func jsError(err error) js.Value {
	v := js.Global().Get("Error").New(err.Error())
	var c *codedError
	if errors.As(err, &c) {
		v.Set("code", c.code)
	}
	return v
}
