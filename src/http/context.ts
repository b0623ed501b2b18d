import type { Queue } from 'bullmq'
import type { Services } from '../services.js'
import type { SessionGateway } from '../whatsapp/command-bus.js'
import type { Capability, Principal } from './auth.js'

/** What the HTTP layer needs; build() takes it, so tests can pass their own parts. */
export interface HttpDeps {
  services: Services
  gateway: SessionGateway
  /** BullMQ queues shown in the dashboard and in queue-depth metrics. */
  queues: Queue[]
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal
  }
  interface FastifyContextConfig {
    /** Capability the route requires; routes without one and without `public` require `admin`. */
    capability?: Capability
    public?: boolean
  }
}
