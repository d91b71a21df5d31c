// views/receipts.js: the times of one member's receipts in Message info (docs/API.md,
// GET /v1/messages/{id}/receipts: delivered_at, read_at).
import { h } from '../dom.js';

function when(ms) {
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString(undefined, { timeStyle: 'short' }) : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

// receiptTimes is the line under a member's name: when it was delivered and read. With
// read receipts off (hideRead) the read time is not shown, as the read state is not.
export function receiptTimes(x, hideRead) {
  const parts = [];
  if (x.delivered_at) parts.push(h('time.delivered-at', { datetime: new Date(x.delivered_at).toISOString() }, 'Delivered ' + when(x.delivered_at)));
  if (x.read_at && !hideRead) parts.push(h('time.read-at', { datetime: new Date(x.read_at).toISOString() }, 'Read ' + when(x.read_at)));
  if (!parts.length) return null;
  return h('span.receipt-times', parts.flatMap((p, i) => (i ? [' · ', p] : [p])));
}
