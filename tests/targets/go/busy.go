// A Go program for profd's tests: goroutines that hand values over channels (they park through
// runtime.mcall), contend for a mutex and call into the runtime (runtime.systemstack), and one
// that burns CPU in main.spin. profd sees its OS threads, not its goroutines.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

var sink [][]byte

//go:noinline
func spin(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i * i
	}
	return s
}

func relay(in, out chan int) {
	for v := range in {
		out <- v + 1
	}
}

func main() {
	var mu sync.Mutex
	for i := 0; i < 3; i++ {
		a, b := make(chan int), make(chan int)
		go relay(a, b)
		go func() {
			for {
				a <- 1
				<-b
			}
		}()
	}
	for i := 0; i < 2; i++ {
		go func() {
			for {
				mu.Lock()
				sink = append(sink, make([]byte, 4096))
				if len(sink) > 1000 {
					sink = nil
				}
				mu.Unlock()
				runtime.Gosched()
			}
		}()
	}
	go func() {
		for {
			spin(20000000)
		}
	}()
	fmt.Printf("ready %d\n", os.Getpid())
	for {
		time.Sleep(20 * time.Millisecond)
		runtime.GC()
	}
}
