import htm from 'htm'
import { h, render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { api } from './api.js'

const html = htm.bind(h)

/**
 * The page a pairing link opens, for whoever holds the phone: only this session's QR code, live, or a
 * pairing code for their number, until the phone is linked. The link's token is in the fragment; the
 * first open exchanges it for this browser's pairing view, so the link cannot be used again.
 */
function Pair() {
  const [state, setState] = useState(null)
  const [error, setError] = useState(null)
  const [code, setCode] = useState(null)
  useEffect(() => {
    const token = location.hash.slice(1)
    // Drop the token from the address bar and history at once: it has done its job.
    history.replaceState(null, '', location.pathname)
    const open = token
      ? api('POST', '/console/api/pair/open', { token })
      : api('GET', '/console/api/pair/state')
    let source = null
    open.then(
      (s) => {
        setState(s)
        source = new EventSource('/console/api/pair/events')
        source.addEventListener('state', (e) => setState(JSON.parse(e.data)))
      },
      (err) => setError(err.message),
    )
    return () => source?.close()
  }, [])
  const askCode = async (e) => {
    e.preventDefault()
    const phone = String(new FormData(e.currentTarget).get('phone')).replace(/\D/g, '')
    try {
      setCode((await api('POST', '/console/api/pair/code', { phone })).code)
    } catch (err) {
      setCode(null)
      setError(err.message)
    }
  }
  if (error && !state)
    return html`<main><h1>Link a phone</h1><p role="alert" class="error">${error}</p></main>`
  if (!state) return html`<main><h1>Link a phone</h1><p>Opening the link…</p></main>`
  const name = state.label ?? state.sessionId
  return html`<main>
    <h1>Link a phone to ${name}</h1>
    <div role="status" aria-live="polite" data-testid="pair-status" data-status=${state.status}>
      ${
        state.status === 'WORKING'
          ? html`<p class="done">The phone is linked. You can close this page.</p>`
          : state.status === 'SCAN_QR_CODE'
            ? html`<p>Scan this code with the phone.</p>`
            : html`<p>Waiting for the session to show a code (${state.status.toLowerCase()}${state.detail ? `: ${state.detail}` : ''})…</p>`
      }
    </div>
    ${
      state.status === 'SCAN_QR_CODE' &&
      state.qrImage &&
      html`<figure>
        <img class="qr" src=${state.qrImage} data-qr=${state.qr} width="320" height="320" alt="QR code to link the phone to ${name}" />
        <figcaption>On the phone: WhatsApp › Settings › Linked devices › Link a device. The code changes every 20 to 60 seconds; this page follows.</figcaption>
      </figure>
      <details>
        <summary>Cannot scan? Use a pairing code</summary>
        <form onSubmit=${askCode}>
          <label>The phone's number, international, digits only <input name="phone" inputmode="numeric" required pattern="[0-9 +]{6,20}" /></label>
          <button type="submit">Get a pairing code</button>
        </form>
        ${code && html`<p>Type this code on the phone (Link with phone number instead): <strong class="code" data-testid="pairing-code">${code}</strong></p>`}
        ${error && html`<p role="alert" class="error">${error}</p>`}
      </details>`
    }
    <p class="help">This page works until ${new Date(state.expiresAt).toLocaleTimeString()}.</p>
  </main>`
}

render(html`<${Pair} />`, document.getElementById('app'))
