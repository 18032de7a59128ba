package link

import "fmt"

// Arrival is what to do with a numbered frame (a message, a room
// message, a room event) that arrived from the peer.
type Arrival uint8

const (
	// Next is the frame after the last taken: take it.
	Next Arrival = iota + 1
	// Repeat is at or below the last taken: a replay that overlaps what
	// already arrived. Drop it silently; it counts once.
	Repeat
)

// Accept checks the seq of a numbered frame against last, the highest
// seq taken so far (PROTOCOL.md §6.2). Seq 0, or any seq past last+1 (a
// gap), breaks the protocol: the error says how, and the receiver ends
// the connection; the peer resumes from last.
func Accept(last, seq uint64) (Arrival, error) {
	switch {
	case seq == 0:
		return 0, fmt.Errorf("message seq 0; sequences start at 1")
	case seq <= last:
		return Repeat, nil
	case seq != last+1:
		return 0, fmt.Errorf("message seq %d, expected %d", seq, last+1)
	}
	return Next, nil
}

// CheckAck checks an acknowledgement from the peer against written, the
// highest seq written to it on this connection (a resumed connection
// counts what the peer said it has): nobody acknowledges what it was not
// sent (§6.3).
func CheckAck(ack, written uint64) error {
	if ack > written {
		return fmt.Errorf("ack %d beyond last sent %d", ack, written)
	}
	return nil
}

// InWindow reports whether a peer's message seq fits its window: at most
// window messages past the last acknowledgement written to it (acked).
func InWindow(seq, acked, window uint64) bool { return seq <= acked+window }
