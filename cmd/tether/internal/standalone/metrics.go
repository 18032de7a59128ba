package standalone

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/internal/webhook"
)

// metrics are the server's Prometheus metrics, on a registry of their own.
type metrics struct {
	reg *prometheus.Registry

	connects       prometheus.Counter
	resumes        prometheus.Counter
	expiries       prometheus.Counter
	replayed       *prometheus.CounterVec // direction
	lost           *prometheus.CounterVec // direction
	closes         *prometheus.CounterVec // cause
	disconnects    *prometheus.CounterVec // cause
	clientMessages prometheus.Counter
	apiMessages    *prometheus.CounterVec // target
	webhookTries   *prometheus.CounterVec // event, result
	webhookFails   *prometheus.CounterVec // event

	roomBroadcasts *prometheus.CounterVec // source
	roomRecoveries *prometheus.CounterVec // outcome
	roomRecovered  prometheus.Counter
	roomSkipped    prometheus.Counter
	roomLost       *prometheus.CounterVec // reason
	roomUnknown    *prometheus.CounterVec // reason
	readmissions   *prometheus.CounterVec // policy, result
	presence       *prometheus.CounterVec // change
}

// Outcomes of a room's recovery (tether_room_recoveries_total).
const (
	recoveryComplete      = "complete"       // everything after the client's position came back
	recoveryPartial       = "partial"        // some were skipped (still in history), none lost
	recoveryLost          = "lost"           // an exact number is gone from history
	recoveryLostUnknown   = "lost_unknown"   // an unknown number is gone (the room's history was lost)
	recoveryNotReadmitted = "not_readmitted" // the client was not let back into the room
)

// Directions of a message.
const (
	toClient   = "to_client"
	fromClient = "from_client"
)

func newMetrics(srv func() *tether.Server, hooks func() *webhook.Dispatcher) *metrics {
	const ns = "tether"
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.connects = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "connects_total", Help: "New sessions started."})
	m.resumes = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "resumes_total", Help: "Sessions resumed on a new connection."})
	m.expiries = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "expiries_total", Help: "Sessions closed because no client resumed within the grace window."})
	m.replayed = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "replayed_messages_total", Help: "Messages replayed after a resume, by direction (to_client, from_client)."}, []string{"direction"})
	m.lost = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "lost_messages_total", Help: "Messages known lost when a session could not be resumed, by direction (to_client, from_client)."}, []string{"direction"})
	m.closes = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "session_closes_total", Help: "Sessions ended, by cause."}, []string{"cause"})
	m.disconnects = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "disconnects_total", Help: "Connections lost while their session was kept, by cause."}, []string{"cause"})
	m.clientMessages = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "client_messages_total", Help: "Messages received from clients (each exactly once)."})
	m.apiMessages = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "api_messages_total", Help: "Messages queued for sessions through the HTTP API, by target (session, user, room); a fan-out counts each session."}, []string{"target"})
	m.webhookTries = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "webhook_attempts_total", Help: "Webhook requests made, by event type and result (ok, retry, rejected, error)."}, []string{"event", "result"})
	m.webhookFails = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "webhook_attempt_failures_total", Help: "Webhook requests that failed (transport error or non-2xx), by event type."}, []string{"event"})
	m.roomBroadcasts = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "room_broadcasts_total", Help: "Messages published to rooms (each kept once in the room's history, whatever its number of members), by source (api, client: broadcast mode)."}, []string{"source"})
	m.roomRecoveries = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "room_recoveries_total", Help: "Rooms presented by clients that lost their session, by outcome: complete, partial (some skipped, still in history), lost (an exact number gone), lost_unknown (an unknown number gone), not_readmitted."}, []string{"outcome"})
	m.roomRecovered = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "room_recovered_messages_total", Help: "Room messages replayed from history to clients that lost their session."})
	m.roomSkipped = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "room_skipped_messages_total", Help: "Room messages still in history but not replayed to returning clients (beyond -room-recovery-limit or half the replay buffer)."})
	m.roomLost = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "room_lost_messages_total", Help: "Room messages a returning client missed and history no longer held, by reason (history-trimmed); losses of unknown size are counted by tether_room_unknown_losses_total."}, []string{"reason"})
	m.roomUnknown = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "room_unknown_losses_total", Help: "Room recoveries where an unknown number of messages was lost, by reason (epoch-changed, diverged)."}, []string{"reason"})
	m.readmissions = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "room_readmissions_total", Help: "Readmission decisions for rooms a returning client presented beyond its token's, by policy (claims, webhook, all) and result (yes, no, error: the backend gave no answer, so no)."}, []string{"policy", "result"})
	m.presence = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "presence_changes_total", Help: "Users entering (join) or leaving (leave) rooms with presence on, as seen by this server."}, []string{"change"})
	for _, c := range []prometheus.Collector{m.connects, m.resumes, m.expiries, m.replayed, m.lost, m.closes, m.disconnects, m.clientMessages, m.apiMessages, m.webhookTries, m.webhookFails,
		m.roomBroadcasts, m.roomRecoveries, m.roomRecovered, m.roomSkipped, m.roomLost, m.roomUnknown, m.readmissions, m.presence} {
		f(c)
	}
	for _, s := range []string{"api", "client"} {
		m.roomBroadcasts.WithLabelValues(s)
	}
	for _, o := range []string{recoveryComplete, recoveryPartial, recoveryLost, recoveryLostUnknown, recoveryNotReadmitted} {
		m.roomRecoveries.WithLabelValues(o)
	}
	m.roomLost.WithLabelValues(tether.RoomHistoryTrimmed.String())
	for _, r := range []tether.RoomLossReason{tether.RoomEpochChanged, tether.RoomDiverged} {
		m.roomUnknown.WithLabelValues(r.String())
	}
	for _, c := range []string{"join", "leave"} {
		m.presence.WithLabelValues(c)
	}
	for _, d := range []string{toClient, fromClient} {
		m.replayed.WithLabelValues(d)
		m.lost.WithLabelValues(d)
	}
	for _, t := range []string{"session", "user", "room"} {
		m.apiMessages.WithLabelValues(t)
	}

	f(&stateCollector{srv: srv,
		sessions: prometheus.NewDesc(ns+"_sessions", "Sessions held, by state (connected, disconnected).", []string{"state"}, nil),
		pending:  prometheus.NewDesc(ns+"_replay_buffer_messages", "Server messages not yet acknowledged by their client, summed over sessions (the replay buffers' depth).", nil, nil),
	})
	if hooks != nil {
		f(&webhookCollector{hooks: hooks,
			queued:    prometheus.NewDesc(ns+"_webhook_queue_depth", "Webhook events queued and not yet delivered or given up.", nil, nil),
			inFlight:  prometheus.NewDesc(ns+"_webhook_in_flight", "Webhook requests in flight.", nil, nil),
			delivered: prometheus.NewDesc(ns+"_webhook_delivered_total", "Webhook events the backend accepted.", nil, nil),
			failures:  prometheus.NewDesc(ns+"_webhook_failures_total", "Webhook events given up: rejected, out of retry time, or dropped.", nil, nil),
			retries:   prometheus.NewDesc(ns+"_webhook_retries_total", "Webhook attempts after an event's first.", nil, nil),
		})
	}
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// roomRecovery counts a room's recovery.
func (m *metrics) roomRecovery(r tether.RoomRecovery) {
	outcome := recoveryComplete
	switch {
	case !r.Readmitted:
		outcome = recoveryNotReadmitted
	case r.Lost < 0:
		outcome = recoveryLostUnknown
		m.roomUnknown.WithLabelValues(r.Reason.String()).Inc()
	case r.Lost > 0:
		outcome = recoveryLost
		m.roomLost.WithLabelValues(r.Reason.String()).Add(float64(r.Lost))
	case r.Skipped > 0:
		outcome = recoveryPartial
	}
	m.roomRecoveries.WithLabelValues(outcome).Inc()
	m.roomRecovered.Add(float64(r.Recovered))
	m.roomSkipped.Add(float64(r.Skipped))
}

// onAttempt is webhook.Config.OnAttempt.
func (m *metrics) onAttempt(ev *webhook.Event, status int, err error) {
	result := "ok"
	switch {
	case err == nil:
	case status == 408 || status == 429 || status >= 500 || status == 0:
		result = "retry"
	default:
		result = "rejected"
	}
	m.webhookTries.WithLabelValues(ev.Type, result).Inc()
	if err != nil {
		m.webhookFails.WithLabelValues(ev.Type).Inc()
	}
}

// stateCollector computes the session gauges at scrape time.
type stateCollector struct {
	srv               func() *tether.Server
	sessions, pending *prometheus.Desc
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sessions
	ch <- c.pending
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	var connected, disconnected, pending int
	if srv := c.srv(); srv != nil {
		srv.Sessions(func(s *tether.Session) bool {
			switch st, _ := s.State(); st {
			case tether.StateConnected:
				connected++
			case tether.StateDisconnected:
				disconnected++
			default:
				return true
			}
			pending += s.Pending()
			return true
		})
	}
	ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(connected), "connected")
	ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(disconnected), "disconnected")
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(pending))
}

// webhookCollector reports the dispatcher's Stats at scrape time.
type webhookCollector struct {
	hooks                                          func() *webhook.Dispatcher
	queued, inFlight, delivered, failures, retries *prometheus.Desc
}

func (c *webhookCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.queued, c.inFlight, c.delivered, c.failures, c.retries} {
		ch <- d
	}
}

func (c *webhookCollector) Collect(ch chan<- prometheus.Metric) {
	var s webhook.Stats
	if d := c.hooks(); d != nil {
		s = d.Stats()
	}
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(s.Queued))
	ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(s.InFlight))
	ch <- prometheus.MustNewConstMetric(c.delivered, prometheus.CounterValue, float64(s.Delivered))
	ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(s.Failures))
	ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(s.Retries))
}
