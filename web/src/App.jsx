// App.jsx — the chatd web client's screens: Login (sign in / sign up) and the
// chat app (ChatList, ChatWindow, CreateChatForm, AddUsersModal,
// InstanceSelector, ConnectionStatus, ReadReceiptIndicator, UnreadIndicator).
// Data comes from Apollo hooks (useQuery / useMutation / useSubscription) over
// the normalised cache (cache.js); transport, routing and failover: net.js.
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { useApolloClient, useMutation, useQuery, useSubscription } from '@apollo/client/react';
import * as net from './net.js';
import * as ops from './ops.js';
import { unreadLive } from './cache.js';
import { ChatWindow } from './ChatWindow.jsx';
import { chatTitle, displayName, Modal } from './ui.jsx';

// re-render on session/instance/connection changes
function useNetState() {
  return useSyncExternalStore(
    net.onStateChange,
    () => `${net.conn.status}|${net.inUse.sender}|${net.inUse.receiver}|${net.session.token ? 1 : 0}`,
  );
}

export function App() {
  const [user, setUser] = useState(() => (net.session.token ? net.session.user : null));
  const [session, setSession] = useState({ epoch: 0, notice: '' });
  useNetState();
  useEffect(() => {
    // a failed refresh clears the session: back to the login screen
    return net.onStateChange(() => {
      if (!net.session.token && !net.isReauthing()) setUser(null);
    });
  }, []);
  if (!user) return <Login onSignedIn={setUser} />;
  // a re-sign-in (account settings) remounts the chat app: every subscription
  // starts again on a new socket with the new token; the notice reopens Account
  return (
    <ChatApp key={session.epoch} me={user} notice={session.notice} onSignOut={() => setUser(null)} onMeChanged={setUser}
      onSignedInAgain={(u, notice) => { setUser(u); setSession((x) => ({ epoch: x.epoch + 1, notice })); }} />
  );
}

// ---- Login ----------------------------------------------------------------
function Login({ onSignedIn }) {
  const [mode, setMode] = useState('signin');
  const [form, setForm] = useState({ username: '', password: '', email: '', displayName: '' });
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const [createUser] = useMutation(ops.CREATE_USER);
  const [login] = useMutation(ops.LOGIN);

  async function submit(e) {
    e.preventDefault();
    setError('');
    setBusy(true);
    try {
      if (mode === 'signup') {
        await createUser({ variables: {
          in: {
            username: form.username,
            email: form.email || `${form.username}@example.com`,
            displayName: form.displayName || null,
            password: form.password,
          },
        } });
      }
      const { data: d } = await login({ variables: { u: form.username, p: form.password } });
      net.session.save(d.login);
      onSignedIn(d.login.user);
    } catch (err) {
      setError(net.errText(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <main className="login">
      <h1>chatd</h1>
      <div role="tablist" aria-label="Account" className="tabs">
        <button role="tab" aria-selected={mode === 'signin'} onClick={() => setMode('signin')}>Sign in</button>
        <button role="tab" aria-selected={mode === 'signup'} onClick={() => setMode('signup')}>Sign up</button>
      </div>
      <form onSubmit={submit} aria-label={mode === 'signin' ? 'Sign in' : 'Sign up'}>
        <label>Username<input name="username" autoComplete="username" required value={form.username} onChange={set('username')} /></label>
        {mode === 'signup' && (
          <>
            <label>Email<input name="email" type="email" value={form.email} onChange={set('email')} /></label>
            <label>Display name<input name="displayName" value={form.displayName} onChange={set('displayName')} /></label>
          </>
        )}
        <label>Password<input name="password" type="password" autoComplete={mode === 'signin' ? 'current-password' : 'new-password'} required minLength={mode === 'signup' ? 8 : undefined} value={form.password} onChange={set('password')} /></label>
        {error && <p role="alert" className="error">{error}</p>}
        <button type="submit" disabled={busy}>{mode === 'signin' ? 'Sign in' : 'Create account'}</button>
      </form>
      <InstanceSelector />
    </main>
  );
}

// ---- connection status + instance selector --------------------------------
export function ConnectionStatus() {
  useNetState();
  const s = net.conn.status;
  const label = s === 'connected' ? 'Connected' : s === 'offline' ? 'Offline' : s === 'connecting' ? 'Connecting…' : 'Reconnecting…';
  return (
    <span role="status" aria-live="polite" className={`conn conn-${s}`} data-status={s}>
      <span className="conn-dot" aria-hidden="true" /> {label}
    </span>
  );
}

export function InstanceSelector() {
  useNetState();
  const chosenSender = Number(localStorage.getItem(net.LS_SENDER) || 0);
  const chosenReceiver = Number(localStorage.getItem(net.LS_RECEIVER) || 0);
  // config.balanced (make run-cluster): ports of HAProxy frontends, listed first
  const balanced = net.config.balanced || [];
  const opts = (service) => {
    let n = 0;
    return net.config[service].map((port, i) => (
      <option key={port} value={i}>
        {balanced.includes(port) ? `Load balanced (port ${port})` : `Instance ${++n} (port ${port})`}
      </option>
    ));
  };
  return (
    <section className="instances" aria-label="Instances">
      <label>Sender
        <select name="sender" value={chosenSender} onChange={(e) => net.chooseInstance('sender', Number(e.target.value))}>{opts('sender')}</select>
      </label>
      <label>Receiver
        <select name="receiver" value={chosenReceiver} onChange={(e) => net.chooseInstance('receiver', Number(e.target.value))}>{opts('receiver')}</select>
      </label>
      <span className="in-use" data-testid="in-use">
        in use: user :{net.portOf('user')} · sender :{net.portOf('sender')} · receiver :{net.portOf('receiver')}
      </span>
    </section>
  );
}

// ---- chat app ---------------------------------------------------------------
const sortChats = (list) =>
  [...list].sort((a, b) => {
    const ta = a.lastMessage ? a.lastMessage.createdAt : a.updatedAt;
    const tb = b.lastMessage ? b.lastMessage.createdAt : b.updatedAt;
    return ta < tb ? 1 : ta > tb ? -1 : 0;
  });

// chats list: one query in the normalised cache; the per-user streams write
// into it (a Chat or Message written anywhere updates every screen)
function useChatList(me) {
  const client = useApolloClient();
  const { data, error, refetch } = useQuery(ops.GET_CHATS, { fetchPolicy: 'network-only', nextFetchPolicy: 'cache-first' });
  const delivered = useRef({}); // chatId -> newest seq marked delivered

  const addToList = useCallback((chat) => {
    client.cache.updateQuery({ query: ops.GET_CHATS }, (d) => {
      if (!d) return d;
      const rest = d.chats.filter((c) => c.id !== chat.id);
      return { chats: chat.isActive === false ? rest : [chat, ...rest] };
    });
  }, [client]);
  const dropFromList = useCallback((chatId) => {
    client.cache.updateQuery({ query: ops.GET_CHATS }, (d) => (d ? { chats: d.chats.filter((c) => c.id !== chatId) } : d));
  }, [client]);

  useEffect(() => {
    unreadLive.clear(); // counts are per signed-in user
    return () => unreadLive.clear();
  }, [me.id]);
  useEffect(() => net.onReconnect(() => {
    unreadLive.clear(); // the refetched chats are newer
    refetch().catch(() => {});
  }), [refetch]);

  const variables = { userId: me.id };
  useSubscription(ops.SUB_UNREAD, {
    variables,
    onData: ({ data: { data: d } }) => {
      const u = d && d.unreadCountUpdated;
      if (!u) return;
      const prev = unreadLive.get(u.chatId);
      if (u.seq != null && prev && u.seq < prev.seq) return; // stale
      if (u.seq != null) unreadLive.set(u.chatId, { seq: u.seq, count: u.unreadCount });
      client.cache.modify({ id: client.cache.identify({ __typename: 'Chat', id: u.chatId }), fields: { unreadCount: () => u.unreadCount } });
    },
  });
  useSubscription(ops.SUB_PREVIEW, {
    variables,
    onData: ({ data: { data: d } }) => {
      const m = d && d.messageUpdateForChatList;
      if (!m) return;
      const id = client.cache.identify({ __typename: 'Chat', id: m.chatId });
      client.cache.modify({
        id,
        fields: {
          lastMessage(cur, { readField, toReference }) {
            if (cur && readField('seq', cur) > m.seq && readField('id', cur) !== m.id) return cur;
            return toReference({ __typename: 'Message', id: m.id });
          },
        },
      });
      // the message reached this device: delivered (✓✓ gray for its sender)
      if (m.senderId !== me.id && m.type !== 'system' && (delivered.current[m.chatId] || 0) < m.seq) {
        delivered.current[m.chatId] = m.seq;
        net.mutate(ops.MARK_CHAT_DELIVERED, { chatId: m.chatId, upToSeq: m.seq }).catch(() => {});
      }
    },
  });
  useSubscription(ops.SUB_CHAT_ADDED, { variables, onData: ({ data: { data: d } }) => d && d.chatAdded && addToList(d.chatAdded) });
  useSubscription(ops.SUB_CHAT_UPDATED, {
    variables,
    onData: ({ data: { data: d } }) => {
      const c = d && d.chatUpdated;
      if (!c) return;
      if (c.isActive === false || !c.participantIds.includes(me.id)) dropFromList(c.id);
      else addToList(c);
    },
  });
  const chats = data ? sortChats(data.chats) : [];
  return { chats, error, refetch, addToList, dropFromList };
}

// presence: a null component per chat holding its presenceUpdated stream
function PresenceFeed({ chatId, setOnline }) {
  useSubscription(ops.SUB_PRESENCE, {
    variables: { chatId },
    onData: ({ data: { data: d } }) => {
      const p = d && d.presenceUpdated;
      if (p) setOnline((o) => (o[p.userId] === p.online ? o : { ...o, [p.userId]: p.online }));
    },
  });
  return null;
}

function ChatApp({ me, notice, onSignOut, onMeChanged, onSignedInAgain }) {
  const client = useApolloClient();
  const { chats, error, addToList, dropFromList } = useChatList(me);
  const [online, setOnline] = useState({});
  const [selected, setSelected] = useState(null);
  const [jumpTo, setJumpTo] = useState(null); // {chatId, messageId, seq, nonce}
  const [modal, setModal] = useState(notice ? 'account' : null); // 'create' | 'add' | 'account'
  const [search, setSearch] = useState('');

  useEffect(() => {
    net.wsClient();
  }, []);

  // presence: onlineUsers per chat once (User.online is not filled in lists)
  const chatIds = chats.map((c) => c.id).sort().join(','); // not refetched on reorder
  useEffect(() => {
    if (!chatIds) return;
    const ids = chatIds.split(',');
    client.query({ query: ops.onlineQuery(ids), fetchPolicy: 'no-cache' }).then(({ data: d }) => {
      setOnline((o) => {
        const n = { ...o };
        ids.forEach((id, i) => {
          const c = chats.find((x) => x.id === id);
          const on = new Set((d[`o${i}`] || []).map((u) => u.id));
          if (c) for (const pid of c.participantIds) n[pid] = on.has(pid);
        });
        return n;
      });
    }).catch(() => {});
  }, [chatIds]); // eslint-disable-line react-hooks/exhaustive-deps

  const current = chats.find((c) => c.id === selected) || null;
  const open = (chatId, jump) => {
    setSelected(chatId);
    setJumpTo(jump ? { ...jump, nonce: Date.now() } : null);
  };

  async function signOut() {
    try {
      await net.mutate(ops.LOGOUT, { t: net.session.refreshToken });
    } catch {
      /* signing out locally anyway */
    }
    net.closeWs();
    net.session.clear();
    await client.clearStore().catch(() => {});
    onSignOut();
  }

  return (
    <div className="app" data-screen={current ? 'chat' : 'list'}>
      {chatIds && chatIds.split(',').map((id) => <PresenceFeed key={id} chatId={id} setOnline={setOnline} />)}
      <header className="topbar">
        <h1>chatd</h1>
        <ConnectionStatus />
        <InstanceSelector />
        <span className="me" data-testid="me">{displayName(me)}</span>
        <button onClick={() => setModal('account')}>Account</button>
        <button onClick={signOut}>Sign out</button>
      </header>
      <div className="main">
        <nav className="chatlist" aria-label="Chats">
          <div className="chatlist-head">
            <h2>Chats</h2>
            <button onClick={() => setModal('create')}>New chat</button>
          </div>
          <div className="search">
            <label className="sr-only" htmlFor="search-messages">Search messages</label>
            <input id="search-messages" type="search" placeholder="Search messages" value={search} onChange={(e) => setSearch(e.target.value)} />
          </div>
          {error && <p role="alert" className="error">{net.errText(error)}</p>}
          {search.trim() ? (
            <SearchResults q={search.trim()} chats={chats} me={me} onOpen={(r) => open(r.chatId, r)} />
          ) : (
            <>
              <ul>
                {chats.map((c) => (
                  <ChatListItem key={c.id} chat={c} me={me} online={online} active={c.id === selected} onSelect={() => open(c.id)} />
                ))}
              </ul>
              {chats.length === 0 && <p className="empty">No chats yet.</p>}
            </>
          )}
        </nav>
        {current ? (
          <ChatWindow
            key={current.id}
            chat={current}
            me={me}
            online={online}
            jumpTo={jumpTo && jumpTo.chatId === current.id ? jumpTo : null}
            onBack={() => setSelected(null)}
            onAddPeople={() => setModal('add')}
            onLeft={() => {
              dropFromList(current.id);
              setSelected(null);
            }}
          />
        ) : (
          <section className="chatwindow empty"><p>Select a chat or start a new one.</p></section>
        )}
      </div>
      {modal === 'create' && (
        <CreateChatForm me={me} onClose={() => setModal(null)} onCreated={(c) => { addToList(c); open(c.id); setModal(null); }} />
      )}
      {modal === 'add' && current && (
        <AddUsersModal me={me} chat={current} onClose={() => setModal(null)} onAdded={(c) => { addToList(c); setModal(null); }} />
      )}
      {modal === 'account' && (
        <AccountSettings me={me} notice={notice} onClose={() => setModal(null)} onMeChanged={onMeChanged} onSignedInAgain={onSignedInAgain} onSignedOut={onSignOut} />
      )}
    </div>
  );
}

// search: highlighted results («…» from the server), a click opens the chat at the message
function Highlight({ text }) {
  const parts = text.split(/(«[^»]*»)/);
  return parts.map((p, i) => (p.startsWith('«') && p.endsWith('»') ? <mark key={i}>{p.slice(1, -1)}</mark> : p));
}

function SearchResults({ q, chats, me, onOpen }) {
  const [term, setTerm] = useState(q);
  useEffect(() => {
    const t = setTimeout(() => setTerm(q), 250);
    return () => clearTimeout(t);
  }, [q]);
  const { data, error, loading } = useQuery(ops.SEARCH_MESSAGES, { variables: { q: term, first: 30 }, fetchPolicy: 'network-only' });
  const edges = data ? data.searchMessages.edges : [];
  return (
    <section aria-label="Search results" className="results">
      {error && <p role="alert" className="error">{net.errText(error)}</p>}
      {!loading && !error && edges.length === 0 && <p className="empty">No messages match.</p>}
      <ul>
        {edges.map((e) => {
          const chat = chats.find((c) => c.id === e.message.chatId);
          return (
            <li key={e.message.id}>
              <button className="result" data-testid="search-result" onClick={() => onOpen({ chatId: e.message.chatId, messageId: e.message.id, seq: e.message.seq })}>
                <span className="chatitem-name">{chat ? chatTitle(chat, me) : 'Chat'}</span>
                <span className="result-text"><Highlight text={e.highlight} /></span>
              </button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

// account settings: display name, password (then signed in again here), sign out elsewhere
function AccountSettings({ me, notice, onClose, onMeChanged, onSignedInAgain, onSignedOut }) {
  const client = useApolloClient();
  const [name, setName] = useState(me.displayName || '');
  const [pw, setPw] = useState({ old: '', new1: '', new2: '' });
  const [confirm, setConfirm] = useState('');
  const [msg, setMsg] = useState(notice || '');
  const [error, setError] = useState('');
  const [updateUser] = useMutation(ops.UPDATE_USER);
  const [changePassword] = useMutation(ops.CHANGE_PASSWORD);
  const [logout] = useMutation(ops.LOGOUT);
  const [login] = useMutation(ops.LOGIN);
  const run = (f) => async (e) => {
    e.preventDefault();
    setError('');
    setMsg('');
    try {
      await f();
    } catch (err) {
      setError(net.errText(err));
    }
  };
  // revoke() ends every session (this one too), then this device signs in
  // again; the socket keeps retrying meanwhile and resumes with the new token
  async function revokeAndSignInAgain(revoke, password, done) {
    net.setReauthing(true);
    try {
      await revoke();
      net.session.clear();
      try {
        const { data } = await login({ variables: { u: me.username, p: password } });
        net.session.save(data.login);
        net.closeWs(); // its subscriptions end; the remounted app opens a new socket
        onSignedInAgain(data.login.user, done);
      } catch (err) {
        await client.clearStore().catch(() => {});
        net.closeWs();
        onSignedOut();
        throw err;
      }
    } finally {
      net.setReauthing(false);
    }
  }
  const saveName = run(async () => {
    const { data } = await updateUser({ variables: { in: { id: me.id, displayName: name.trim() || null } } });
    const u = { ...me, ...data.updateUser };
    net.session.save({ token: net.session.token, refreshToken: net.session.refreshToken, user: u });
    onMeChanged(u);
    setMsg('Display name saved');
  });
  const savePassword = run(async () => {
    if (pw.new1 !== pw.new2) throw new Error('The new passwords differ');
    await revokeAndSignInAgain(() => changePassword({ variables: { old: pw.old, new: pw.new1 } }), pw.new1,
      'Password changed; other sessions were signed out');
  });
  const signOutOthers = run(async () => {
    // the password is checked first: a wrong one must not sign this device out
    await login({ variables: { u: me.username, p: confirm } });
    await revokeAndSignInAgain(() => logout({ variables: { t: null } }), confirm, 'Other sessions were signed out'); // logout everywhere
  });
  return (
    <Modal title="Account" onClose={onClose}>
      <form onSubmit={saveName} aria-label="Profile">
        <label>Display name<input name="displayName" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} /></label>
        <button type="submit">Save name</button>
      </form>
      <form onSubmit={savePassword} aria-label="Password">
        <label>Current password<input type="password" autoComplete="current-password" required value={pw.old} onChange={(e) => setPw({ ...pw, old: e.target.value })} /></label>
        <label>New password<input type="password" autoComplete="new-password" required minLength={8} value={pw.new1} onChange={(e) => setPw({ ...pw, new1: e.target.value })} /></label>
        <label>Repeat new password<input type="password" autoComplete="new-password" required minLength={8} value={pw.new2} onChange={(e) => setPw({ ...pw, new2: e.target.value })} /></label>
        <button type="submit">Change password</button>
      </form>
      <form onSubmit={signOutOthers} aria-label="Sessions">
        <label>Password (to stay signed in here)<input type="password" autoComplete="current-password" required value={confirm} onChange={(e) => setConfirm(e.target.value)} /></label>
        <button type="submit">Sign out other sessions</button>
      </form>
      {msg && <p role="status" className="ok">{msg}</p>}
      {error && <p role="alert" className="error">{error}</p>}
      <div className="actions"><button type="button" onClick={onClose}>Close</button></div>
    </Modal>
  );
}

function UnreadIndicator({ count }) {
  if (!count) return null;
  return (
    <span className="unread" data-testid="unread" aria-label={`${count} unread`}>
      <span className="unread-dot" aria-hidden="true" />{count}
    </span>
  );
}

function ChatListItem({ chat, me, online, active, onSelect }) {
  const others = (chat.participants || []).filter((p) => p.id !== me.id);
  const anyOnline = others.some((p) => online[p.id]);
  const m = chat.lastMessage;
  const preview = !m ? 'No messages yet' : m.deletedAt ? 'Message deleted' : `${m.senderId === me.id ? 'You: ' : ''}${m.content}`;
  return (
    <li>
      <button className={`chatitem${active ? ' active' : ''}`} aria-current={active ? 'true' : undefined} onClick={onSelect} data-chat-id={chat.id}>
        <span className="chatitem-name">
          {anyOnline && <span className="online-dot" title="online" aria-label="online" data-testid="online" />}
          {chatTitle(chat, me)}
        </span>
        <span className="chatitem-preview" data-testid="preview">{preview}</span>
        <UnreadIndicator count={chat.unreadCount} />
      </button>
    </li>
  );
}

// ---- people picker (create chat / add people) --------------------------------
function UserPicker({ me, exclude = [], selected, setSelected, single }) {
  const [search, setSearch] = useState('');
  const [term, setTerm] = useState('');
  useEffect(() => {
    const t = setTimeout(() => setTerm(search), 200);
    return () => clearTimeout(t);
  }, [search]);
  const { data } = useQuery(ops.SEARCH_USERS, { variables: { s: term || null, limit: 50 }, fetchPolicy: 'network-only' });
  const users = data ? data.users.filter((u) => u.id !== me.id && !exclude.includes(u.id)) : [];
  const toggle = (id) =>
    setSelected(single ? [id] : selected.includes(id) ? selected.filter((x) => x !== id) : [...selected, id]);
  return (
    <fieldset className="picker">
      <legend>People</legend>
      <label>Search people<input type="search" value={search} onChange={(e) => setSearch(e.target.value)} /></label>
      <ul>
        {users.map((u) => (
          <li key={u.id}>
            <label>
              <input type={single ? 'radio' : 'checkbox'} name="people" checked={selected.includes(u.id)} onChange={() => toggle(u.id)} />
              {displayName(u)} <span className="muted">@{u.username}</span>
            </label>
          </li>
        ))}
      </ul>
    </fieldset>
  );
}

function CreateChatForm({ me, onClose, onCreated }) {
  const [name, setName] = useState('');
  const [type, setType] = useState('group');
  const [people, setPeople] = useState([]);
  const [error, setError] = useState('');
  const [createChat] = useMutation(ops.CREATE_CHAT);
  async function submit(e) {
    e.preventDefault();
    if (!people.length) return setError('Choose at least one person');
    try {
      const { data: d } = await createChat({ variables: {
        in: { name: name || (type === 'direct' ? 'Direct chat' : 'Group'), chatType: type, participantIds: people },
      } });
      onCreated(d.createChat);
    } catch (err) {
      setError(net.errText(err));
    }
  }
  return (
    <Modal title="New chat" onClose={onClose}>
      <form onSubmit={submit}>
        <fieldset className="type">
          <legend>Type</legend>
          <label><input type="radio" name="type" checked={type === 'group'} onChange={() => setType('group')} /> Group</label>
          <label><input type="radio" name="type" checked={type === 'direct'} onChange={() => { setType('direct'); setPeople(people.slice(0, 1)); }} /> Direct</label>
        </fieldset>
        {type === 'group' && <label>Chat name<input name="chatName" value={name} onChange={(e) => setName(e.target.value)} /></label>}
        <UserPicker me={me} selected={people} setSelected={setPeople} single={type === 'direct'} />
        {error && <p role="alert" className="error">{error}</p>}
        <div className="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit">Create chat</button>
        </div>
      </form>
    </Modal>
  );
}

function AddUsersModal({ me, chat, onClose, onAdded }) {
  const [people, setPeople] = useState([]);
  const [error, setError] = useState('');
  const [addParticipants] = useMutation(ops.ADD_PARTICIPANTS);
  async function submit(e) {
    e.preventDefault();
    if (!people.length) return setError('Choose at least one person');
    try {
      const { data: d } = await addParticipants({ variables: { chatId: chat.id, userIds: people } });
      onAdded(d.addParticipants);
    } catch (err) {
      setError(net.errText(err));
    }
  }
  return (
    <Modal title={`Add people to ${chat.name}`} onClose={onClose}>
      <form onSubmit={submit}>
        <UserPicker me={me} exclude={chat.participantIds} selected={people} setSelected={setPeople} />
        {error && <p role="alert" className="error">{error}</p>}
        <div className="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit">Add</button>
        </div>
      </form>
    </Modal>
  );
}

