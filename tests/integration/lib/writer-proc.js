// A writer process for the fault suites: sends messages into chats through
// the given senders from its own Node process (so a fault that blocks the
// test's event loop, e.g. execSync of a restart, does not pause the writers).
// argv[2] is JSON { senders: [url], writers: [{ id, h }], chats: [id],
// perWriter, retryMs, paceMs }. Prints "sent" per committed message and "error <json>"
// per failed attempt; exits 0 when every message is committed, 1 otherwise.
const cfg = JSON.parse(process.argv[2]);
const CREATE_MSG = 'mutation M($in: CreateMessageInput!) { createMessage(createMessageInput: $in) { id seq } }';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function post(url, body, headers) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return JSON.parse(await res.text());
}

async function writer(u, w) {
  for (let i = 0; i < cfg.perWriter; i++) {
    const chat = cfg.chats[(w + i) % cfg.chats.length];
    const t0 = Date.now();
    for (let attempt = 0; ; attempt++) {
      const url = cfg.senders[(w + i + attempt) % cfg.senders.length];
      const b = await post(url, {
        query: CREATE_MSG,
        variables: { in: { content: `x${w} m${i}`, senderId: u.id, chatId: chat, clientId: `x${w}-${i}-${chat}` } },
      }, u.h).catch((e) => ({ errors: [{ message: String(e) }] }));
      if (!b.errors) break;
      process.stdout.write(`error ${JSON.stringify(b.errors[0])}\n`);
      if (Date.now() - t0 > cfg.retryMs) throw new Error(`message ${w}/${i} not committed: ${JSON.stringify(b)}`);
      await sleep(50);
    }
    process.stdout.write('sent\n');
    if (cfg.paceMs) await sleep(cfg.paceMs);
  }
}

Promise.all(cfg.writers.map(writer)).then(
  () => process.exit(0),
  (e) => {
    process.stdout.write(`fatal ${e.message}\n`);
    process.exit(1);
  },
);
