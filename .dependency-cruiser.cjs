// Layer rules of Tickbridge, checked by `npm run lint` (and so by CI). The direction they keep:
//   planners, services, HTTP -> jobs/catalog.ts <- processors (jobs/*.ts);  worker -> processors;
//   everything -> src/domain; HTTP -> WhatsApp only through the session port and the command bus.
// A rule names the layer a module is in by its path; see docs/architecture.md for the map.

/** Features: the planners and services built on the inbox. */
const FEATURES = '^src/(receipts|reminders|sla|counters|crm)/'
/** The typed job table and its plumbing: the one part of jobs/ the rest of the code may know. */
const CATALOG = '^jobs/(catalog|job-definition)\\.ts$'
/** Processors: every other module of jobs/. */
const PROCESSOR = { path: '^jobs/', pathNot: CATALOG }
/** Adapters behind the WhatsApp port (the sim network itself is the simulated WhatsApp, not an adapter). */
const TRANSPORT = '^src/whatsapp/(baileys/|sim/transport\\.ts$)'

module.exports = {
  forbidden: [
    {
      name: 'domain-imports-nothing-of-ours',
      comment: 'src/domain is pure: types, schemas and rules of the domain, no I/O and no other layer.',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { path: '^(src|jobs)/', pathNot: '^src/domain/' },
    },
    {
      name: 'inbox-imports-no-feature',
      comment:
        'The inbox is the core every feature listens to; it must not know a feature, job, HTTP, transport, worker or CRM module.',
      severity: 'error',
      from: { path: '^src/inbox/' },
      to: {
        path: [
          FEATURES,
          '^jobs/',
          '^src/http/',
          '^src/whatsapp/(baileys|sim)/',
          '^src/worker/',
          '^src/(services|main)\\.ts$',
        ],
      },
    },
    {
      name: 'jobs-import-no-worker-or-http',
      comment: 'Processors are run by the worker; they must not reach back into it, nor into HTTP.',
      severity: 'error',
      from: { path: '^jobs/' },
      to: { path: ['^src/worker/', '^src/http/', '^src/(services|main)\\.ts$'] },
    },
    {
      name: 'jobs-speak-the-whatsapp-port',
      comment: 'Processors act on WhatsApp through the port (src/whatsapp/port.ts), never an adapter.',
      severity: 'error',
      from: { path: '^jobs/' },
      to: { path: TRANSPORT },
    },
    {
      name: 'catalog-is-a-leaf',
      comment:
        'Producers and processors meet in the catalog; it knows neither (no feature, processor or worker).',
      severity: 'error',
      from: { path: CATALOG },
      to: { path: [FEATURES, '^src/(worker|http)/', '^src/inbox/'], pathNot: CATALOG },
    },
    {
      name: 'catalog-imports-no-processor',
      severity: 'error',
      from: { path: CATALOG },
      to: PROCESSOR,
    },
    {
      name: 'features-import-no-processor',
      comment: 'Planners and services enqueue through jobs/catalog.ts; only the worker wires processors.',
      severity: 'error',
      from: { path: [FEATURES, '^src/services\\.ts$'] },
      to: PROCESSOR,
    },
    {
      name: 'features-import-no-worker',
      comment: 'Features produce jobs; running them (queues consumed, sessions held) is the worker layer.',
      severity: 'error',
      from: { path: FEATURES },
      to: { path: '^src/worker/' },
    },
    {
      name: 'http-imports-no-transport',
      comment: 'HTTP reaches WhatsApp only through the session port and the command bus (logout included).',
      severity: 'error',
      from: { path: '^src/http/' },
      to: { path: TRANSPORT },
    },
    {
      name: 'http-imports-no-processor-or-worker',
      severity: 'error',
      from: { path: '^src/http/' },
      to: { path: ['^src/worker/', PROCESSOR.path], pathNot: CATALOG },
    },
    {
      name: 'no-circular',
      comment: 'No import cycles between modules.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a type is a dependency on the module that defines it.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
}
