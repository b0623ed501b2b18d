import type { Queue } from 'bullmq'
import type { Services } from '../services.js'
import type { SessionGateway } from '../whatsapp/command-bus.js'
import type { Capability, OperatorPrincipal, OrgPrincipal } from './auth.js'

/** What the HTTP layer needs; build() takes it, so tests can pass their own parts. */
export interface HttpDeps {
  services: Services
  gateway: SessionGateway
  /** BullMQ queues shown in the dashboard and in queue-depth metrics. */
  queues: Queue[]
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's org key, on org routes (after the capability check). */
    principal?: OrgPrincipal
    /** The operator key, on the queue dashboard. */
    operator?: OperatorPrincipal
  }
  interface FastifyContextConfig {
    /** Capability the route requires; routes without one and without `public` require `admin`. */
    capability?: Capability
    public?: boolean
  }
}
