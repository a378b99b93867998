package vmexec

import (
	"fmt"
	"io"
)

// MaxStdin bounds the standard input a command is given (ReadStdin): it
// travels in the image, in the guest's memory.
const MaxStdin = 64 << 20

// ReadStdin reads what a command is to be given on its standard input,
// as initkit exec -i takes it: r to its end, up to MaxStdin bytes.
func ReadStdin(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxStdin+1))
	if err != nil {
		return nil, fmt.Errorf("stdin: %w", err)
	}
	if len(b) > MaxStdin {
		return nil, fmt.Errorf("stdin: more than %d bytes, which the command is given whole, in the guest's memory: give it a file with --add instead", MaxStdin)
	}
	return b, nil
}
