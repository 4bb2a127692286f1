// Sends a small e-commerce clickstream with the official Segment Node SDK,
// unchanged: only its host points at Tandem instead of api.segment.io.
const { Analytics } = require('@segment/analytics-node')

const analytics = new Analytics({
  writeKey: process.env.TANDEM_WRITE_KEY,
  host: process.env.TANDEM_URL,
  flushAt: 10,
})
analytics.on('error', (err) => { console.error('sdk error:', err); process.exitCode = 1 })

const user = '17850'
analytics.identify({ userId: user, traits: { country: 'United Kingdom' } })
for (let i = 0; i < 20; i++) {
  analytics.track({ userId: user, event: 'Product Viewed', properties: { product_id: '85123A', name: 'WHITE HANGING HEART T-LIGHT HOLDER', price: 2.55, currency: 'GBP' } })
}
analytics.track({ anonymousId: 'anon-1', event: 'Product Added', properties: { product_id: '71053', price: 3.39, quantity: 6, currency: 'GBP', cart_id: 'c1' } })
analytics.track({ userId: user, event: 'Order Completed', properties: { order_id: '536365', revenue: 15.3, currency: 'GBP', products: [{ product_id: '85123A', price: 2.55, quantity: 6 }] } })
// Not in the plan's shape: quarantined, not lost.
analytics.track({ userId: user, event: 'Product Viewed', properties: { price: 'free' } })
analytics.page({ userId: user, name: 'Home' })

analytics.closeAndFlush({ timeout: 10000 }).then(() => console.log('flushed'))
