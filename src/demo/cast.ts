/**
 * Who takes part in the demo: the shop's WhatsApp numbers and CRM users (as in config/rules.demo.yaml)
 * and the customers writing in. Phone numbers are made up but well-formed, so HubSpot's phone search
 * finds the seeded contacts.
 */
export const ORG = 'demo-shop'
export const BOT_LINE = 'shop-bot'
export const SALES_LINE = 'shop-sales'
export const DEMO_API_KEY = 'tb_demo_key'
/** Opens the queue dashboard, which shows every org's jobs (config/rules.demo.yaml, demo-operator). */
export const DEMO_OPERATOR_KEY = 'tb_demo_operator_key'

export interface DemoUser {
  id: string
  label: string
  ownerId: string
  email: string
  firstName: string
  lastName: string
}

export const USERS: DemoUser[] = [
  {
    id: 'anna',
    label: 'anna (agent)',
    ownerId: '81234501',
    email: 'anna@demo-shop.example',
    firstName: 'Anna',
    lastName: 'Schmidt',
  },
  {
    id: 'ben',
    label: 'ben (agent, takes new clients)',
    ownerId: '81234502',
    email: 'ben@demo-shop.example',
    firstName: 'Ben',
    lastName: 'Weber',
  },
  {
    id: 'dora',
    label: 'dora (supervisor of both)',
    ownerId: '81234504',
    email: 'dora@demo-shop.example',
    firstName: 'Dora',
    lastName: 'Fischer',
  },
]

export interface Customer {
  key: string
  name: string
  /** As HubSpot stores it (with spaces). */
  phone: string
  /** In a HubSpot contact (group members need none). */
  contact: boolean
}

const c = (key: string, name: string, phone: string, contact = true): Customer => ({
  key,
  name,
  phone,
  contact,
})

export const CUSTOMERS = {
  maria: c('maria', 'Maria Silva', '+351 912 345 678'),
  jonas: c('jonas', 'Jonas Weber', '+49 170 1234567'),
  lena: c('lena', 'Lena Braun', '+49 160 9876543'),
  paul: c('paul', 'Paul Huber', '+43 664 1234567'),
  ahmed: c('ahmed', 'Ahmed Khan', '+44 7700 900123'),
  tom: c('tom', 'Tom Becker', '+49 171 2345678', false),
  sara: c('sara', 'Sara Costa', '+351 913 222 333', false),
} satisfies Record<string, Customer>

export type CustomerKey = keyof typeof CUSTOMERS

export const GROUP = { jid: '120363041234567890@g.us', name: 'Lisbon trip' }

export const jidOf = (who: Customer): string => `${who.phone.replace(/\D/g, '')}@s.whatsapp.net`

/** Display names of every jid in the demo (customers' DMs and the group). */
export function namesByJid(): Map<string, string> {
  const names = new Map<string, string>([[GROUP.jid, GROUP.name]])
  for (const who of Object.values(CUSTOMERS)) names.set(jidOf(who), who.name)
  return names
}
