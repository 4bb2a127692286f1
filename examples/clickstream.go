package examples

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// Line is one product line of a real order.
type Line struct {
	StockCode   string
	Description string
	Quantity    int
	Price       float64
}

// Order is one real invoice of the Online Retail data.
type Order struct {
	InvoiceNo  string
	CustomerID string
	At         time.Time
	Lines      []Line
}

// Clickstream turns real orders into the clickstream a website would have
// sent around them, after Segment's e-commerce spec: product views (some
// from clicks in a list) before each purchase, browsing of products not
// bought, cart adds, abandoned carts, checkout and the completed order.
// A share bad of the events break the tracking plan the way buggy
// clients do. It is deterministic for a seed.
func Clickstream(orders []Order, catalog []Line, seed uint64, bad float64) []json.RawMessage {
	r := rand.New(rand.NewPCG(seed, 7))
	var out []json.RawMessage
	n := 0
	emit := func(userID, event string, at time.Time, props map[string]any) {
		n++
		if r.Float64() < bad {
			switch r.IntN(3) {
			case 0:
				delete(props, "product_id") // required missing
				delete(props, "order_id")
			case 1:
				props["price"] = fmt.Sprint(props["price"]) // a number sent as text
			default:
				props["coupon_code"] = "WINTER" // not in the plan
				event = "Coupon Applied"        // an unplanned event
			}
		}
		msg := map[string]any{
			"type": "track", "messageId": fmt.Sprintf("gen-%d-%d", seed, n), "userId": userID, "event": event,
			"timestamp": at.UTC().Format(time.RFC3339), "properties": props,
			"context": map[string]any{"library": map[string]any{"name": "tandem-clickstream", "version": "1"}},
		}
		b, _ := json.Marshal(msg)
		out = append(out, b)
	}
	product := func(l Line) map[string]any {
		return map[string]any{"product_id": l.StockCode, "name": l.Description, "price": l.Price, "currency": "GBP"}
	}
	for _, o := range orders {
		start := o.At.Add(-time.Duration(5+r.IntN(40)) * time.Minute)
		step := o.At.Sub(start) / time.Duration(3*len(o.Lines)+6)
		t := start
		tick := func() time.Time { t = t.Add(step); return t }
		cart := fmt.Sprintf("cart-%s", o.InvoiceNo)
		// Browsing: products looked at and not bought.
		for i := 0; i < r.IntN(4); i++ {
			emit(o.CustomerID, "Product Viewed", tick(), product(catalog[r.IntN(len(catalog))]))
		}
		var products []map[string]any
		revenue := 0.0
		for i, l := range o.Lines {
			if r.IntN(3) == 0 {
				emit(o.CustomerID, "Product Clicked", tick(), map[string]any{"product_id": l.StockCode, "list_id": "search", "position": i + 1})
			}
			emit(o.CustomerID, "Product Viewed", tick(), product(l))
			added := product(l)
			added["quantity"], added["cart_id"] = l.Quantity, cart
			emit(o.CustomerID, "Product Added", tick(), added)
			products = append(products, map[string]any{"product_id": l.StockCode, "name": l.Description, "price": l.Price, "quantity": l.Quantity})
			revenue += l.Price * float64(l.Quantity)
		}
		if r.IntN(6) == 0 { // an abandoned item: added, never ordered
			l := catalog[r.IntN(len(catalog))]
			added := product(l)
			added["quantity"], added["cart_id"] = 1, cart
			emit(o.CustomerID, "Product Added", tick(), added)
		}
		emit(o.CustomerID, "Cart Viewed", tick(), map[string]any{"cart_id": cart, "products": products})
		emit(o.CustomerID, "Checkout Started", tick(), map[string]any{"order_id": o.InvoiceNo, "value": round2(revenue), "currency": "GBP", "products": products})
		emit(o.CustomerID, "Order Completed", o.At, map[string]any{"order_id": o.InvoiceNo, "revenue": round2(revenue), "currency": "GBP", "products": products})
	}
	return out
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
