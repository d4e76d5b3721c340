// App.jsx — the chatd web client's screens: Login (sign in / sign up) and the
// chat app (ChatList, ChatWindow, CreateChatForm, AddUsersModal,
// InstanceSelector, ConnectionStatus, ReadReceiptIndicator, UnreadIndicator).
// State lives in React; chatd is reached only through net.js.
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import * as net from './net.js';
import * as ops from './ops.js';
import { ChatWindow } from './ChatWindow.jsx';

// re-render on session/instance/connection changes
function useNetState() {
  return useSyncExternalStore(
    net.onStateChange,
    () => `${net.conn.status}|${net.inUse.sender}|${net.inUse.receiver}|${net.session.token ? 1 : 0}`,
  );
}

export function App() {
  const [user, setUser] = useState(() => (net.session.token ? net.session.user : null));
  useNetState();
  useEffect(() => {
    // a failed refresh clears the session: back to the login screen
    return net.onStateChange(() => {
      if (!net.session.token) setUser(null);
    });
  }, []);
  if (!user) return <Login onSignedIn={setUser} />;
  return <ChatApp me={user} onSignOut={() => setUser(null)} />;
}

// ---- Login ----------------------------------------------------------------
function Login({ onSignedIn }) {
  const [mode, setMode] = useState('signin');
  const [form, setForm] = useState({ username: '', password: '', email: '', displayName: '' });
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });

  async function submit(e) {
    e.preventDefault();
    setError('');
    setBusy(true);
    try {
      if (mode === 'signup') {
        await net.mutate(ops.CREATE_USER, {
          in: {
            username: form.username,
            email: form.email || `${form.username}@example.com`,
            displayName: form.displayName || null,
            password: form.password,
          },
        });
      }
      const d = await net.mutate(ops.LOGIN, { u: form.username, p: form.password });
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
export function displayName(u) {
  return u ? u.displayName || u.username : '?';
}
export function chatTitle(chat, me) {
  if (chat.chatType === 'direct') {
    const other = (chat.participants || []).find((p) => p.id !== me.id);
    if (other) return displayName(other);
  }
  return chat.name;
}
const sortChats = (list) =>
  [...list].sort((a, b) => {
    const ta = a.lastMessage ? a.lastMessage.createdAt : a.updatedAt;
    const tb = b.lastMessage ? b.lastMessage.createdAt : b.updatedAt;
    return ta < tb ? 1 : ta > tb ? -1 : 0;
  });

function ChatApp({ me, onSignOut }) {
  const [chats, setChats] = useState([]);
  const [online, setOnline] = useState({});
  const [selected, setSelected] = useState(null);
  const [modal, setModal] = useState(null); // 'create' | 'add'
  const [error, setError] = useState('');
  const unreadSeq = useRef({}); // chatId -> seq of the count shown

  // presence: onlineUsers per chat (User.online is not filled in lists)
  const loadOnline = useCallback(async (list) => {
    if (!list.length) return;
    try {
      const d = await net.query(ops.onlineQuery(list.map((c) => c.id)));
      setOnline((o) => {
        const n = { ...o };
        list.forEach((c, i) => {
          const on = new Set((d[`o${i}`] || []).map((u) => u.id));
          for (const id of c.participantIds) n[id] = on.has(id);
        });
        return n;
      });
    } catch {
      /* dots stay as they are */
    }
  }, []);

  const upsert = useCallback((chat) => {
    setChats((cs) => sortChats([chat, ...cs.filter((c) => c.id !== chat.id)].filter((c) => c.isActive !== false)));
    loadOnline([chat]);
  }, [loadOnline]);

  const loadChats = useCallback(async () => {
    try {
      const d = await net.query(ops.GET_CHATS);
      setChats(sortChats(d.chats));
      loadOnline(d.chats);
      unreadSeq.current = {};
      setError('');
    } catch (e) {
      setError(net.errText(e));
    }
  }, [loadOnline]);

  useEffect(() => {
    net.wsClient();
    loadChats();
    const offs = [
      net.onReconnect(loadChats),
      net.subscribe(ops.SUB_UNREAD, () => ({ userId: me.id }), ({ unreadCountUpdated: u }) => {
        if (!u) return;
        const prev = unreadSeq.current[u.chatId];
        if (u.seq != null && prev != null && u.seq < prev) return; // stale
        if (u.seq != null) unreadSeq.current[u.chatId] = u.seq;
        setChats((cs) => cs.map((c) => (c.id === u.chatId ? { ...c, unreadCount: u.unreadCount } : c)));
      }),
      net.subscribe(ops.SUB_PREVIEW, () => ({ userId: me.id }), ({ messageUpdateForChatList: m }) => {
        if (!m) return;
        setChats((cs) => sortChats(cs.map((c) => {
          if (c.id !== m.chatId) return c;
          if (c.lastMessage && c.lastMessage.seq > m.seq && c.lastMessage.id !== m.id) return c;
          return { ...c, lastMessage: m };
        })));
      }),
      net.subscribe(ops.SUB_CHAT_ADDED, () => ({ userId: me.id }), ({ chatAdded: c }) => c && upsert(c)),
      net.subscribe(ops.SUB_CHAT_UPDATED, () => ({ userId: me.id }), ({ chatUpdated: c }) => c && upsert(c)),
    ];
    return () => offs.forEach((f) => f());
  }, [me.id, loadChats, upsert]);

  // presence per chat
  const chatIds = chats.map((c) => c.id).sort().join(','); // not re-subscribed on reorder
  useEffect(() => {
    if (!chatIds) return undefined;
    const offs = chatIds.split(',').map((id) =>
      net.subscribe(ops.SUB_PRESENCE, () => ({ chatId: id }), ({ presenceUpdated: p }) => {
        if (p) setOnline((o) => (o[p.userId] === p.online ? o : { ...o, [p.userId]: p.online }));
      }),
    );
    return () => offs.forEach((f) => f());
  }, [chatIds]);

  const current = chats.find((c) => c.id === selected) || null;

  async function signOut() {
    try {
      await net.mutate(ops.LOGOUT, { t: net.session.refreshToken });
    } catch {
      /* signing out locally anyway */
    }
    net.closeWs();
    net.session.clear();
    onSignOut();
  }

  return (
    <div className="app">
      <header className="topbar">
        <h1>chatd</h1>
        <ConnectionStatus />
        <InstanceSelector />
        <span className="me" data-testid="me">{displayName(me)}</span>
        <button onClick={signOut}>Sign out</button>
      </header>
      <div className="main">
        <nav className="chatlist" aria-label="Chats">
          <div className="chatlist-head">
            <h2>Chats</h2>
            <button onClick={() => setModal('create')}>New chat</button>
          </div>
          {error && <p role="alert" className="error">{error}</p>}
          <ul>
            {chats.map((c) => (
              <ChatListItem key={c.id} chat={c} me={me} online={online} active={c.id === selected} onSelect={() => setSelected(c.id)} />
            ))}
          </ul>
          {chats.length === 0 && <p className="empty">No chats yet.</p>}
        </nav>
        {current ? (
          <ChatWindow
            key={current.id}
            chat={current}
            me={me}
            online={online}
            onAddPeople={() => setModal('add')}
            onChatChanged={upsert}
          />
        ) : (
          <section className="chatwindow empty"><p>Select a chat or start a new one.</p></section>
        )}
      </div>
      {modal === 'create' && (
        <CreateChatForm me={me} onClose={() => setModal(null)} onCreated={(c) => { upsert(c); setSelected(c.id); setModal(null); }} />
      )}
      {modal === 'add' && current && (
        <AddUsersModal me={me} chat={current} onClose={() => setModal(null)} onAdded={(c) => { upsert(c); setModal(null); }} />
      )}
    </div>
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
  const [users, setUsers] = useState([]);
  useEffect(() => {
    let gone = false;
    const t = setTimeout(async () => {
      try {
        const d = await net.query(ops.SEARCH_USERS, { s: search || null, limit: 50 });
        if (!gone) setUsers(d.users.filter((u) => u.id !== me.id && !exclude.includes(u.id)));
      } catch {
        /* keep the last list */
      }
    }, 200);
    return () => {
      gone = true;
      clearTimeout(t);
    };
  }, [search]); // eslint-disable-line react-hooks/exhaustive-deps
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

function Modal({ title, onClose, children }) {
  useEffect(() => {
    const k = (e) => e.key === 'Escape' && onClose();
    window.addEventListener('keydown', k);
    return () => window.removeEventListener('keydown', k);
  }, [onClose]);
  return (
    <div className="backdrop">
      <div role="dialog" aria-modal="true" aria-label={title} className="modal">
        <h2>{title}</h2>
        {children}
      </div>
    </div>
  );
}

function CreateChatForm({ me, onClose, onCreated }) {
  const [name, setName] = useState('');
  const [type, setType] = useState('group');
  const [people, setPeople] = useState([]);
  const [error, setError] = useState('');
  async function submit(e) {
    e.preventDefault();
    if (!people.length) return setError('Choose at least one person');
    try {
      const d = await net.mutate(ops.CREATE_CHAT, {
        in: { name: name || (type === 'direct' ? 'Direct chat' : 'Group'), chatType: type, participantIds: people },
      });
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
  async function submit(e) {
    e.preventDefault();
    if (!people.length) return setError('Choose at least one person');
    try {
      const d = await net.mutate(ops.ADD_PARTICIPANTS, { chatId: chat.id, userIds: people });
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

