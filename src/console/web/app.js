import htm from 'htm'
import { h, render } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { api, setCsrf } from './api.js'
import { CountersPage, HubSpotPage, InboxPage, RulesPage, SessionsPage, SlaPage } from './pages.js'

const html = htm.bind(h)

const PAGES = [
  { path: 'sessions', title: 'Sessions', Page: SessionsPage },
  { path: 'inbox', title: 'Inbox', Page: InboxPage },
  { path: 'counters', title: 'Counters', Page: CountersPage },
  { path: 'sla', title: 'SLA breaches', Page: SlaPage },
  { path: 'hubspot', title: 'HubSpot sync', Page: HubSpotPage },
  { path: 'rules', title: 'Rules', Page: RulesPage },
]

/** `#/inbox/acme-sales` -> { path: 'inbox', arg: 'acme-sales' } */
function route() {
  const [path, arg] = location.hash.replace(/^#\/?/, '').split('/')
  return {
    path: PAGES.some((p) => p.path === path) ? path : 'sessions',
    arg: arg ? decodeURIComponent(arg) : null,
  }
}

/** Live notices from the server: pages subscribe and refetch what they show. */
const listeners = new Set()
export function onChange(fn) {
  listeners.add(fn)
  return () => listeners.delete(fn)
}

function SignIn({ onSignedIn, publishedKeys }) {
  const [error, setError] = useState(null)
  const [busy, setBusy] = useState(false)
  const submit = async (e) => {
    e.preventDefault()
    const key = new FormData(e.currentTarget).get('key')
    setBusy(true)
    setError(null)
    try {
      onSignedIn(await api('POST', '/console/api/sign-in', { key }))
    } catch (err) {
      setError(err.message)
      setBusy(false)
    }
  }
  return html`<main class="signin">
    <h1>Tickbridge console</h1>
    <form onSubmit=${submit} aria-describedby="signin-help">
      <label for="key">API key</label>
      <input id="key" name="key" type="password" autocomplete="off" required minlength="8" />
      <p id="signin-help" class="help">
        The key is exchanged for a session of this browser and is not kept here.
        ${
          publishedKeys?.length > 0 &&
          html` This server runs on rules with published keys (fine on this machine only): try
          <code>${publishedKeys[0]}</code>.`
        }
      </p>
      ${error && html`<p role="alert" class="error">${error}</p>`}
      <button type="submit" disabled=${busy}>Sign in</button>
    </form>
  </main>`
}

function Shell({ me, onSignedOut }) {
  const [where, setWhere] = useState(route())
  const [live, setLive] = useState('connecting')
  const heading = useRef(null)
  useEffect(() => {
    const onHash = () => setWhere(route())
    addEventListener('hashchange', onHash)
    return () => removeEventListener('hashchange', onHash)
  }, [])
  useEffect(() => {
    // Focus the page's heading on navigation, so a screen reader announces where it landed.
    heading.current?.focus()
  }, [where.path])
  useEffect(() => {
    const source = new EventSource('/console/api/events')
    source.addEventListener('ready', () => setLive('live'))
    source.addEventListener('change', (e) => {
      const change = JSON.parse(e.data)
      for (const fn of listeners) fn(change)
    })
    source.onerror = () => setLive('reconnecting')
    return () => source.close()
  }, [])
  const signOut = async () => {
    await api('POST', '/console/api/sign-out')
    onSignedOut()
  }
  const page = PAGES.find((p) => p.path === where.path)
  const admin = me.capabilities.includes('admin')
  // The queue dashboard is the operator key's alone (SECURITY.md): an org's admin key gets 403 there.
  const operator = me.operator
  return html`<div class="shell">
    <header>
      <a class="skip" href="#main">Skip to content</a>
      <p class="brand">Tickbridge</p>
      <nav aria-label="Console">
        <ul>
          ${PAGES.map(
            (p) =>
              html`<li><a href=${`#/${p.path}`} aria-current=${p.path === where.path ? 'page' : undefined}>${p.title}</a></li>`,
          )}
          ${operator && html`<li><a href="/admin/queues">Queues</a></li>`}
          <li><a href="/docs">API docs</a></li>
        </ul>
      </nav>
      <div class="who">
        <p>
          <span data-testid="who-org">${me.operator ? 'Operator (no org: the queue dashboard)' : `Org ${me.org}`}</span>
          ${' · key '}<span data-testid="who-key">${me.keyId}</span>
          ${' · '}<span data-testid="who-caps">${me.capabilities.join(', ')}</span>
          ${' · '}<span class=${`live ${live}`} role="status">${live}</span>
        </p>
        <button type="button" onClick=${signOut}>Sign out</button>
      </div>
    </header>
    <main id="main">
      <h1 tabindex="-1" ref=${heading}>${page.title}</h1>
      <${page.Page} me=${me} arg=${where.arg} admin=${admin} onChange=${onChange} />
    </main>
  </div>`
}

function App() {
  const [me, setMe] = useState(undefined)
  const [published, setPublished] = useState([])
  useEffect(() => {
    api('GET', '/console/api/me').then(
      (m) => {
        if (m.signedIn) setCsrf(m.csrf)
        else setPublished(m.publishedKeys)
        setMe(m.signedIn ? m : null)
      },
      () => setMe(null),
    )
  }, [])
  if (me === undefined) return html`<main><h1>Tickbridge console</h1><p>Loading…</p></main>`
  if (!me)
    return html`<${SignIn}
      publishedKeys=${published}
      onSignedIn=${(m) => {
        setCsrf(m.csrf)
        setMe(m)
      }}
    />`
  return html`<${Shell}
    me=${me}
    onSignedOut=${() => {
      setCsrf(null)
      setMe(null)
      api('GET', '/console/api/me').then(
        (m) => setPublished(m.publishedKeys ?? []),
        () => {},
      )
    }}
  />`
}

render(html`<${App} />`, document.getElementById('app'))
