import htm from 'htm'
import { h } from 'preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { ago, api, duration, when } from './api.js'

const html = htm.bind(h)

/** Runs `load` now, again whenever `deps` change, and on each live notice `relevant` accepts. */
function useLive(load, deps, onChange, relevant = () => true) {
  const [state, setState] = useState({ data: null, error: null })
  const latest = useRef(load)
  latest.current = load
  const reload = useCallback(() => {
    latest.current().then(
      (data) => setState({ data, error: null }),
      (error) => setState((s) => ({ data: s.data, error: error.message })),
    )
  }, [])
  useEffect(reload, deps)
  useEffect(() => {
    let timer = null
    const off = onChange((change) => {
      if (!relevant(change) || timer) return
      // Notices come in bursts; one refetch per burst.
      timer = setTimeout(() => {
        timer = null
        reload()
      }, 150)
    })
    return () => {
      off()
      clearTimeout(timer)
    }
  }, deps)
  return { ...state, reload }
}

/** The current time, once a second: waiting times tick without asking the server. */
function useNow() {
  const [now, setNow] = useState(Date.now())
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000)
    return () => clearInterval(t)
  }, [])
  return now
}

const allSessions = (me) => me.orgs.flatMap((o) => o.sessions.map((s) => ({ ...s, org: o.id })))
const sessionName = (s) => (s.label ? `${s.label} (${s.id})` : s.id)

function Problem({ error }) {
  return error ? html`<p role="alert" class="error">${error}</p>` : null
}

/** A polite announcement for screen readers (and a visible note) after an action. */
function Note({ text }) {
  return html`<p role="status" class="note">${text ?? ''}</p>`
}

/** An action that asks first, in a modal dialog (focus moves into it; Escape cancels). */
function ConfirmButton({ label, question, confirmLabel, onConfirm, disabled }) {
  const dialog = useRef(null)
  return html`<span>
    <button type="button" disabled=${disabled} onClick=${() => dialog.current.showModal()}>${label}</button>
    <dialog class="confirm" ref=${dialog} aria-label=${label}>
      <form method="dialog">
        <p>${question}</p>
        <button value="cancel" type="submit">Cancel</button>
        <button
          value="ok"
          type="submit"
          class="danger"
          onClick=${(e) => {
            e.preventDefault()
            dialog.current.close()
            onConfirm()
          }}
        >
          ${confirmLabel}
        </button>
      </form>
    </dialog>
  </span>`
}

// --- sessions ---------------------------------------------------------------------------------------------

export function SessionsPage({ me, admin, onChange }) {
  const now = useNow()
  const [note, setNote] = useState(null)
  const [links, setLinks] = useState({})
  const { data, error, reload } = useLive(
    () => api('GET', '/v1/sessions'),
    [],
    onChange,
    (c) => c.kind === 'status',
  )
  const act = async (sid, action) => {
    try {
      await api('POST', `/v1/sessions/${encodeURIComponent(sid)}/${action}`)
      setNote(`${action} sent to ${sid}`)
      reload()
    } catch (err) {
      setNote(`${action} of ${sid} failed: ${err.message}`)
    }
  }
  const pairingLink = async (sid) => {
    try {
      const link = await api('POST', `/console/api/sessions/${encodeURIComponent(sid)}/pairing-links`)
      setLinks({
        ...links,
        [sid]: { url: new URL(link.path, location.href).href, expiresAt: link.expiresAt },
      })
      setNote(`pairing link for ${sid} created`)
    } catch (err) {
      setNote(`pairing link for ${sid} failed: ${err.message}`)
    }
  }
  const multiOrg = me.orgs.length > 1
  return html`<section>
    <${Problem} error=${error} />
    <${Note} text=${note} />
    ${
      data &&
      html`<table>
      <caption>
        Every WhatsApp session ${multiOrg ? 'of every org' : `of org ${me.org}`}, live
      </caption>
      <thead>
        <tr>
          <th scope="col">Session</th>
          ${multiOrg && html`<th scope="col">Org</th>`}
          <th scope="col">Status</th>
          <th scope="col">Since</th>
          <th scope="col">Recent changes</th>
          ${admin && html`<th scope="col">Actions</th>`}
        </tr>
      </thead>
      <tbody>
        ${data.items.map(
          (s) => html`<tr key=${s.id} data-session=${s.id}>
            <th scope="row"><a href=${`#/inbox/${encodeURIComponent(s.id)}`}>${sessionName(s)}</a></th>
            ${multiOrg && html`<td>${s.org}</td>`}
            <td><span class=${`status ${s.status}`} data-testid="status">${s.status}</span>${s.statusDetail ? html`<br /><small>${s.statusDetail}</small>` : ''}</td>
            <td>${ago(s.statusSince, now)}</td>
            <td><${History} sid=${s.id} version=${s.statusSince} /></td>
            ${
              admin &&
              html`<td class="actions">
              <button type="button" onClick=${() => act(s.id, 'start')} aria-label=${`Start ${s.id}`}>Start</button>
              <button type="button" onClick=${() => act(s.id, 'stop')} aria-label=${`Stop ${s.id}`}>Stop</button>
              <${ConfirmButton}
                label=${`Log out ${s.id}`}
                question=${`Log ${s.id} out of WhatsApp? The phone must pair again.`}
                confirmLabel="Log out"
                onConfirm=${() => act(s.id, 'logout')}
              />
              <button type="button" onClick=${() => pairingLink(s.id)} aria-label=${`Pairing link for ${s.id}`}>
                Pairing link
              </button>
              ${
                links[s.id] &&
                html`<p class="link">
                <label>Send this link to whoever holds the phone (works once, until ${when(links[s.id].expiresAt)}):
                <input readonly value=${links[s.id].url} data-testid="pairing-link" onFocus=${(e) => e.currentTarget.select()} /></label>
              </p>`
              }
            </td>`
            }
          </tr>`,
        )}
      </tbody>
    </table>`
    }
  </section>`
}

function History({ sid, version }) {
  const [items, setItems] = useState(null)
  const [open, setOpen] = useState(false)
  useEffect(() => {
    if (open)
      api('GET', `/v1/sessions/${encodeURIComponent(sid)}`).then(
        (d) => setItems(d.history.slice(0, 8)),
        () => {},
      )
  }, [open, version])
  return html`<details onToggle=${(e) => setOpen(e.currentTarget.open)}>
    <summary>History<span class="sr-only"> of ${sid}</span></summary>
    ${
      items &&
      html`<ul class="history">
      ${items.map((i) => html`<li>${when(i.at)}: ${i.status}${i.detail ? ` (${i.detail})` : ''}</li>`)}
    </ul>`
    }
  </details>`
}

// --- inbox ------------------------------------------------------------------------------------------------

const REMIND_CHOICES = ['15m', '1h', '2h', '1d']

export function InboxPage({ me, arg, onChange }) {
  const sessions = allSessions(me)
  const sid = arg && sessions.some((s) => s.id === arg) ? arg : sessions[0]?.id
  const [filter, setFilter] = useState('')
  const [note, setNote] = useState(null)
  const now = useNow()
  const { data, error, reload } = useLive(
    async () => {
      if (!sid) return null
      const q = new URLSearchParams({ limit: '200', ...(filter ? { filter } : {}) })
      const base = `/v1/sessions/${encodeURIComponent(sid)}`
      const [chats, sla] = await Promise.all([
        api('GET', `${base}/chats/overview?${q}`),
        api('GET', `/console/api/sessions/${encodeURIComponent(sid)}/sla`),
      ])
      return { chats: chats.items, sla: new Map(sla.items.map((c) => [c.chatJid, c])) }
    },
    [sid, filter],
    onChange,
    (c) => c.sid === sid,
  )
  if (!sid) return html`<p>No session is visible to this key.</p>`
  const chatAction = async (chat, path, body, done) => {
    try {
      await api(
        'POST',
        `/v1/sessions/${encodeURIComponent(sid)}/chats/${encodeURIComponent(chat.jid)}/${path}`,
        body,
      )
      setNote(`${done}: ${chatName(chat)}`)
      reload()
    } catch (err) {
      setNote(`${chatName(chat)}: ${err.message}`)
    }
  }
  // Waiting longest first; chats nobody waits in after them, most recent first.
  const chats = (data?.chats ?? []).slice().sort((a, b) => {
    if (a.waitingSince && b.waitingSince) return Date.parse(a.waitingSince) - Date.parse(b.waitingSince)
    if (a.waitingSince || b.waitingSince) return a.waitingSince ? -1 : 1
    return Date.parse(b.lastMessage?.timestamp ?? 0) - Date.parse(a.lastMessage?.timestamp ?? 0)
  })
  return html`<section>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <label>Session
        <select value=${sid} onChange=${(e) => (location.hash = `#/inbox/${encodeURIComponent(e.currentTarget.value)}`)}>
          ${sessions.map((s) => html`<option value=${s.id}>${sessionName(s)}</option>`)}
        </select>
      </label>
      <label>Show
        <select value=${filter} onChange=${(e) => setFilter(e.currentTarget.value)}>
          <option value="">all chats</option>
          <option value="unread">unread</option>
          <option value="unanswered">unanswered</option>
        </select>
      </label>
    </form>
    ${me.sim && html`<${SimMessage} sid=${sid} onSent=${setNote} />`}
    <${Problem} error=${error} />
    <${Note} text=${note} />
    ${
      data &&
      html`<table class="inbox">
      <caption>Chats of ${sid}, waiting longest first (${chats.length})</caption>
      <thead>
        <tr>
          <th scope="col">Chat</th>
          <th scope="col">Unread</th>
          <th scope="col">Unanswered</th>
          <th scope="col">Waiting</th>
          <th scope="col">SLA</th>
          <th scope="col">Owner</th>
          <th scope="col">Reminder</th>
          <th scope="col">Actions</th>
        </tr>
      </thead>
      <tbody>
        ${chats.map((c) => {
          const sla = data.sla.get(c.jid)
          return html`<tr key=${c.jid} data-chat=${c.jid}>
            <th scope="row">${chatName(c)}<br /><small>${c.lastMessage?.preview ?? ''}</small></th>
            <td data-testid="unread">${c.unreadCount}${c.markedUnread ? ' (marked)' : ''}</td>
            <td data-testid="unanswered">${c.unanswered}</td>
            <td>${c.waitingSince ? duration(now - Date.parse(c.waitingSince)) : '—'}</td>
            <td>${sla ? html`<span class=${`sla ${sla.state}`}>${sla.state}</span> <small>${sla.policyId}, due ${when(sla.deadline)}</small>` : '—'}</td>
            <td>${c.owner ?? 'unassigned'}</td>
            <td data-testid="reminder">${c.reminder ? `${c.reminder.status} for ${when(c.reminder.dueAt)}` : '—'}</td>
            <td class="actions">
              <button type="button" aria-label=${`Mark read: ${chatName(c)}`} onClick=${() => chatAction(c, 'read', undefined, 'marked read')}>Mark read</button>
              <button type="button" aria-label=${`No reply needed: ${chatName(c)}`} onClick=${() => chatAction(c, 'no-reply-needed', undefined, 'no reply needed')}>No reply needed</button>
              <${RemindMe} chat=${c} onRemind=${(inText) => chatAction(c, 'unread', { in: inText }, `reminder in ${inText}`)} />
            </td>
          </tr>`
        })}
      </tbody>
    </table>`
    }
  </section>`
}

const chatName = (c) => c.name ?? c.jid.replace(/@.*$/, '')

function RemindMe({ chat, onRemind }) {
  const [choice, setChoice] = useState(REMIND_CHOICES[1])
  const id = `remind-${chat.jid}`
  return html`<span class="remind">
    <label for=${id} class="sr-only">Remind me about ${chatName(chat)} in</label>
    <select id=${id} value=${choice} onChange=${(e) => setChoice(e.currentTarget.value)}>
      ${REMIND_CHOICES.map((c) => html`<option value=${c}>${c}</option>`)}
    </select>
    <button type="button" aria-label=${`Remind me about ${chatName(chat)}`} onClick=${() => onRemind(choice)}>Remind me</button>
  </span>`
}

/** With the simulated WhatsApp: a customer writes to the session, as in `npm start`'s walkthrough. */
function SimMessage({ sid, onSent }) {
  const send = async (e) => {
    e.preventDefault()
    const form = e.currentTarget
    const data = new FormData(form)
    const phone = String(data.get('phone')).replace(/\D/g, '')
    try {
      await api('POST', `/v1/sim/sessions/${encodeURIComponent(sid)}/messages`, {
        chatId: `${phone}@s.whatsapp.net`,
        text: String(data.get('text')),
        pushName: String(data.get('name') || '') || undefined,
      })
      onSent(`simulated message from +${phone} sent`)
      form.querySelector('[name=text]').value = ''
    } catch (err) {
      onSent(`simulated message failed: ${err.message}`)
    }
  }
  return html`<details class="sim">
    <summary>Simulate a customer message</summary>
    <form onSubmit=${send}>
      <label>Customer's number <input name="phone" required pattern="\\+?[0-9 ]{6,20}" value="4915112345678" inputmode="tel" /></label>
      <label>Name <input name="name" value="Maria Silva" /></label>
      <label>Message <input name="text" required value="Hi! Is the blue jacket in stock?" /></label>
      <button type="submit">Send as the customer</button>
    </form>
  </details>`
}

// --- counters ---------------------------------------------------------------------------------------------

export function CountersPage({ me, admin, onChange }) {
  const [note, setNote] = useState(null)
  const { data, error, reload } = useLive(
    () => api('GET', '/console/api/counters'),
    [],
    onChange,
    (c) => c.kind === 'inbox',
  )
  const reset = async (user) => {
    try {
      const r = await api('DELETE', `/v1/chats/unanswered?userId=${encodeURIComponent(user.userId)}`)
      setNote(`${user.name ?? user.userId}: ${r.data.messages} messages in ${r.data.chats} chats reset`)
      reload()
    } catch (err) {
      setNote(`reset failed: ${err.message}`)
    }
  }
  return html`<section>
    <p>Red: customers waiting in the user's own chats (and unassigned ones for who takes new clients). Grey: in the chats of the people they supervise.</p>
    <${Problem} error=${error} />
    <${Note} text=${note} />
    ${
      data &&
      html`<table class="counters">
      <caption>Unanswered customer messages per user, live</caption>
      <thead>
        <tr><th scope="col">User</th>${me.orgs.length > 1 && html`<th scope="col">Org</th>`}<th scope="col">Role</th><th scope="col">Red</th><th scope="col">Grey</th>${admin && html`<th scope="col">Reset</th>`}</tr>
      </thead>
      <tbody>
        ${data.items.map(
          (u) => html`<tr key=${u.userId} data-user=${u.userId}>
            <th scope="row">${u.name ?? u.userId}</th>
            ${me.orgs.length > 1 && html`<td>${u.org}</td>`}
            <td>${u.role}</td>
            <td><span class=${u.red > 0 ? 'count red' : 'count'} data-testid="red">${u.red}</span></td>
            <td><span class="count grey" data-testid="grey">${u.grey}</span></td>
            ${
              admin &&
              html`<td><${ConfirmButton}
              label=${`Reset ${u.name ?? u.userId}`}
              question=${`Reset the unanswered counters of every chat ${u.name ?? u.userId} owns? Customers' messages stay; they are no longer counted as waiting.`}
              confirmLabel="Reset"
              onConfirm=${() => reset(u)}
            /></td>`
            }
          </tr>`,
        )}
      </tbody>
    </table>`
    }
  </section>`
}

// --- SLA --------------------------------------------------------------------------------------------------

export function SlaPage({ me, onChange }) {
  const [policy, setPolicy] = useState('')
  const [level, setLevel] = useState('')
  const { data, error } = useLive(
    async () => {
      // The newest 500 firings: walk the log's pages (oldest first) and keep the tail.
      const items = []
      let cursor = ''
      for (let i = 0; i < 20; i++) {
        const page = await api('GET', `/v1/sla/events?limit=500${cursor ? `&cursor=${cursor}` : ''}`)
        items.push(...page.items)
        if (!page.nextCursor || page.items.length < 500) break
        cursor = page.nextCursor
      }
      return items.slice(-500).reverse()
    },
    [],
    onChange,
    (c) => c.kind === 'inbox',
  )
  const sessions = new Map(allSessions(me).map((s) => [s.id, s]))
  const items = (data ?? []).filter(
    (e) => (!policy || e.policyId === policy) && (!level || String(e.level) === level),
  )
  const policies = [...new Set((data ?? []).map((e) => e.policyId))]
  const levels = [...new Set((data ?? []).map((e) => e.level))].sort()
  return html`<section>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <label>Policy <select value=${policy} onChange=${(e) => setPolicy(e.currentTarget.value)}><option value="">all</option>${policies.map((p) => html`<option>${p}</option>`)}</select></label>
      <label>Level <select value=${level} onChange=${(e) => setLevel(e.currentTarget.value)}><option value="">all</option>${levels.map((l) => html`<option>${l}</option>`)}</select></label>
    </form>
    <${Problem} error=${error} />
    ${
      data &&
      (items.length === 0
        ? html`<p>No SLA level has fired${policy || level ? ' for this filter' : ''}.</p>`
        : html`<table>
          <caption>SLA levels fired, newest first (${items.length})</caption>
          <thead><tr><th scope="col">Fired</th><th scope="col">Session</th><th scope="col">Chat</th><th scope="col">Policy</th><th scope="col">Level</th><th scope="col">Waiting since</th><th scope="col">Actions</th></tr></thead>
          <tbody>
            ${items.map(
              (e) => html`<tr key=${e.id}>
                <td>${when(e.firedAt)}</td>
                <td>${sessions.get(e.sessionId) ? sessionName(sessions.get(e.sessionId)) : e.sessionId}</td>
                <td>${e.chatJid.replace(/@.*$/, '')}</td>
                <td>${e.policyId}</td>
                <td>${e.level}</td>
                <td>${when(e.waitingSince)}</td>
                <td><ul class="plain">${e.actions.map((a) => html`<li class=${a.ok ? '' : 'error'}>${a.action}: ${a.outcome}</li>`)}</ul></td>
              </tr>`,
            )}
          </tbody>
        </table>`)
    }
  </section>`
}

// --- HubSpot ----------------------------------------------------------------------------------------------

export function HubSpotPage({ onChange }) {
  const { data, error } = useLive(
    () => api('GET', '/console/api/hubspot'),
    [],
    onChange,
    () => false,
  )
  if (error) return html`<${Problem} error=${error} />`
  if (!data) return html`<p>Loading…</p>`
  if (!data.enabled)
    return html`<p>CRM sync is off: this process has no <code>HUBSPOT_ACCESS_TOKEN</code>.</p>`
  const rl = data.rateLimit
  return html`<section>
    <dl class="facts">
      <dt>Calls paused</dt><dd>${data.pausedUntil ? `yes, until ${when(data.pausedUntil)} (HubSpot's daily limit)` : 'no'}</dd>
      ${data.pendingChats !== null && html`<dt>Chats waiting to be written</dt><dd>${data.pendingChats}</dd>`}
      ${
        rl &&
        html`<dt>Budget (HubSpot's rate-limit headers, last answer)</dt>
        <dd>${rl.tenSecondRemaining ?? '?'} of ${rl.tenSecondMax ?? '?'} per 10 s left · ${rl.dailyRemaining ?? '?'} of ${rl.dailyMax ?? '?'} today</dd>`
      }
    </dl>
    <h2>Numbers no HubSpot contact matches (${data.unmatched.length})</h2>
    ${
      data.unmatched.length === 0
        ? html`<p>None.</p>`
        : html`<table><caption>Unmatched numbers</caption><thead><tr><th scope="col">Phone</th><th scope="col">Session</th><th scope="col">Since</th><th scope="col">Tries</th><th scope="col">Next try</th></tr></thead>
        <tbody>${data.unmatched.map((u) => html`<tr><td>${u.phone}</td><td>${u.sessionId}</td><td>${when(u.since)}</td><td>${u.attempts}</td><td>${when(u.nextTryAt)}</td></tr>`)}</tbody></table>`
    }
    <h2>Chats HubSpot refused (${data.rejected.length})</h2>
    ${
      data.rejected.length === 0
        ? html`<p>None.</p>`
        : html`<ul>${data.rejected.map((r) => html`<li>${r.sessionId} ${r.chatJid}: ${r.reason}</li>`)}</ul>`
    }
  </section>`
}

// --- rules ------------------------------------------------------------------------------------------------

const EXAMPLE_SCENARIO = (sid) => `start: 2026-11-20T16:30:00+01:00
session: ${sid}
events:
  - at: +0s
    type: customer
    chat: "4915112345678"
    text: Hello, is anyone there?
`

export function RulesPage({ me }) {
  const { data, error } = useLive(
    () => api('GET', '/console/api/rules'),
    [],
    () => () => {},
  )
  const sid = allSessions(me)[0]?.id ?? 'sales'
  const [result, setResult] = useState(null)
  const run = async (e) => {
    e.preventDefault()
    const scenario = new FormData(e.currentTarget).get('scenario')
    try {
      setResult(await api('POST', '/console/api/dry-run', { scenario }))
    } catch (err) {
      setResult({ ok: false, problems: [err.message] })
    }
  }
  return html`<section>
    <${Problem} error=${error} />
    ${
      data &&
      html`<dl class="facts">
      <dt>File</dt><dd><code>${data.path}</code></dd>
      <dt>In force since</dt><dd>${when(data.appliedAt)}</dd>
      <dt>Contents</dt><dd>${Object.entries(data.counts)
        .map(([k, v]) => `${v} ${k}`)
        .join(' · ')}</dd>
      <dt>Last reload</dt>
      <dd>${
        !data.lastReload
          ? 'none since start'
          : html`${when(data.lastReload.at)}: ${data.lastReload.applied ? 'applied' : data.lastReload.problemCount ? `refused, ${data.lastReload.problemCount} problems (the previous rules stay in force)` : 'no change'}
          ${data.lastReload.problems?.length > 0 && html`<ul class="problems">${data.lastReload.problems.map((p) => html`<li><code>${p}</code></li>`)}</ul>`}`
      }
      </dd>
    </dl>`
    }
    <h2>Dry run: what would happen?</h2>
    <form onSubmit=${run} class="dryrun">
      <label for="scenario">Scenario (YAML; see config/scenarios/README.md)</label>
      <textarea id="scenario" name="scenario" rows="10" spellcheck="false">${EXAMPLE_SCENARIO(sid)}</textarea>
      <button type="submit">Run the scenario</button>
    </form>
    <div aria-live="polite">
      ${
        result &&
        (result.ok
          ? html`<pre class="timeline" data-testid="dry-run-output">${result.lines.join('\n')}</pre>`
          : html`<ul class="error problems">${result.problems.map((p) => html`<li><code>${p}</code></li>`)}</ul>`)
      }
    </div>
  </section>`
}
