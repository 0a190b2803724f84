// One busy-room re-join judged the same way whatever the transport and however many servers
// (issue 14, item 1: history first, then the live messages, every seq once, in order, none
// missing). Pages are {messages, more}: the join's history reply first, then the pages read on.

import assert from 'node:assert/strict';

// Judges one re-join: `pages` are the join's history reply then any pages read on after it,
// `live` the live messages that followed, `early` how many live ones came before the reply;
// `target` is the last seq acknowledged before the join, which must have arrived; `behind` how
// many messages the reader re-joined behind (at least that many must reach it).
// Adds to `stats` and `stats.seen`; returns the last seq the reader now holds.
export function judgeRound(stats, round, last, target, pages, live, early, behind) {
  const join = pages[0];
  stats.early += early;
  const pageEnd = join.messages.length ? join.messages[join.messages.length - 1].seq : last;
  for (const m of live) if (m.seq <= pageEnd) stats.repeats++; // the join's page held it already
  stats.repeats += live.length - new Set(live.map((m) => m.seq)).size;
  for (let i = 1; i < live.length; i++) if (live[i].seq !== live[i - 1].seq + 1) stats.breaks++;
  if (live.length && !join.more && live[0].seq !== pageEnd + 1) stats.breaks++;
  // Pages read on after the join may overlap the live ones: the client reading ahead, not the
  // server sending twice.
  const bySeq = new Map();
  for (const m of [...pages.flatMap((p) => p.messages), ...live]) bySeq.set(m.seq, m);
  const all = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  assert.ok(all.length >= behind, `round ${round}: ${all.length} messages`);
  assert.equal(all[0].seq, last + 1, `round ${round}: starts right after since`);
  assert.ok(all.at(-1).seq >= target, `round ${round}: ${target} was acknowledged before the join, ${all.at(-1).seq} arrived`);
  for (let i = 1; i < all.length; i++) if (all[i].seq !== all[i - 1].seq + 1) stats.breaks++;
  for (const m of all) stats.seen.push({ seq: m.seq, id: m.id });
  return all[all.length - 1].seq;
}

