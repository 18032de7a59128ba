package standalone

import (
	"context"
	"log/slog"
	"time"

	"github.com/tether-ws/tether"
)

// sessionLog writes the one-line record of each disconnect, resume,
// session end and failed resume at the level -log-sessions names (off:
// none). Each line carries the cause and the counts: offline time,
// messages replayed, lost or unacknowledged.
type sessionLog struct {
	log   *slog.Logger
	level slog.Level
	off   bool
}

func newSessionLog(log *slog.Logger, setting string) sessionLog {
	l := sessionLog{log: log, level: slog.LevelInfo}
	switch setting {
	case "debug":
		l.level = slog.LevelDebug
	case "off":
		l.off = true
	}
	return l
}

func (l sessionLog) line(msg string, attrs ...any) {
	if l.off {
		return
	}
	l.log.Log(context.Background(), l.level, msg, attrs...)
}

func (l sessionLog) disconnected(s *tether.Session, d tether.Disconnect) {
	attrs := []any{"session", s.ID(), "user", s.UserID(), "cause", d.Cause.String()}
	if d.Err != nil {
		attrs = append(attrs, "err", d.Err.Error())
	}
	l.line("tether: disconnected", attrs...)
}

func (l sessionLog) resumed(s *tether.Session, r tether.Resume) {
	l.line("tether: resumed", "session", s.ID(), "user", s.UserID(), "offline", r.Offline.Round(time.Millisecond),
		"replayed_to_client", r.ToClient, "replayed_from_client", r.FromClient)
}

func (l sessionLog) ended(s *tether.Session, c tether.Closure, reason string) {
	attrs := []any{"session", s.ID(), "user", s.UserID(), "cause", c.Cause.String(), "unacked", c.Unacked}
	if c.Cause == tether.CauseExpired {
		if _, since := s.State(); !since.IsZero() {
			attrs = append(attrs, "offline", time.Since(since).Round(time.Millisecond))
		}
	}
	if reason != "" {
		attrs = append(attrs, "reason", reason)
	}
	if c.Err != nil {
		attrs = append(attrs, "err", c.Err.Error())
	}
	l.line("tether: session ended", attrs...)
}

// notResumed is a client back too late: a new session, and what the old
// one lost (-1: nobody can know).
func (l sessionLog) notResumed(s *tether.Session, p *tether.Loss) {
	l.line("tether: not resumed", "session", s.ID(), "previous", p.SessionID, "user", s.UserID(), "reason", p.Reason.String(),
		"lost_to_client", p.ToClient, "lost_from_client", p.FromClient, "resent_from_client", p.Carried, "in_rooms", p.InRooms)
}

// roomRecovered logs a room recovery that lost or skipped messages, or
// did not readmit; a complete one is logged at debug only.
func (l sessionLog) roomRecovered(s *tether.Session, r tether.RoomRecovery) {
	if l.off {
		return
	}
	lvl := l.level
	if r.Readmitted && r.Lost == 0 && r.Skipped == 0 {
		lvl = slog.LevelDebug
	}
	attrs := []any{"session", s.ID(), "user", s.UserID(), "room", r.Room, "readmitted", r.Readmitted, "recovered", r.Recovered,
		"skipped", r.Skipped, "lost", r.Lost}
	if r.Lost != 0 {
		attrs = append(attrs, "reason", r.Reason.String())
	}
	l.log.Log(context.Background(), lvl, "tether: room recovery", attrs...)
}

// libraryLifecycle are the library's own lines for what sessionLog
// writes: the logger handed to the library logs them at debug, so that
// each event gets one info line, sessionLog's (TestSessionLogLines
// checks that these messages still exist).
var libraryLifecycle = map[string]bool{
	"tether: session closed":       true,
	"tether: session not resumed":  true,
	"tether: room recovery":        true,
	"tether: session disconnected": true,
	"tether: session resumed":      true,
}

// demoteLifecycle is a slog.Handler that lowers the library's lifecycle
// lines (libraryLifecycle) to debug.
type demoteLifecycle struct{ slog.Handler }

func (h demoteLifecycle) Handle(ctx context.Context, r slog.Record) error {
	if r.Level > slog.LevelDebug && libraryLifecycle[r.Message] {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return h.Handler.Handle(ctx, r)
}

func (h demoteLifecycle) WithAttrs(attrs []slog.Attr) slog.Handler {
	return demoteLifecycle{h.Handler.WithAttrs(attrs)}
}

func (h demoteLifecycle) WithGroup(name string) slog.Handler {
	return demoteLifecycle{h.Handler.WithGroup(name)}
}
