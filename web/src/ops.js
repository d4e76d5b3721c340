// ops.js — the GraphQL documents the client sends. Names follow the seeds'
// client; routing is by operation type and root field (net.js serviceFor).
import { gql } from '@apollo/client';

const USER = 'id username displayName online';
export const MSG = 'id content senderId chatId isEdited editedAt createdAt deletedAt seq type';
const CHAT = `id name description chatType participantIds lastSeq unreadCount updatedAt
  participants { ${USER} } lastMessage { ${MSG} }`;

export const LOGIN = gql`mutation Login($u: String!, $p: String!) {
  login(username: $u, password: $p) { token refreshToken user { ${USER} } } }`;
export const CREATE_USER = gql`mutation CreateUser($in: CreateUserInput!) { createUser(createUserInput: $in) { id username } }`;
export const LOGOUT = gql`mutation Logout($t: String) { logout(refreshToken: $t) }`;
export const SEARCH_USERS = gql`query SearchUsers($s: String, $limit: Int) { users(search: $s, limit: $limit) { ${USER} } }`;

export const GET_CHATS = gql`query GetChats { chats { ${CHAT} } }`;
export const GET_CHAT = gql`query GetChat($id: ID!) { chat(id: $id) { ${CHAT} } }`;
export const GET_MESSAGES = gql`query GetMessages($chatId: ID!, $limit: Int, $beforeSeq: Int, $afterSeq: Int) {
  messages(chatId: $chatId, limit: $limit, beforeSeq: $beforeSeq, afterSeq: $afterSeq) { ${MSG} } }`;

export const CREATE_CHAT = gql`mutation CreateChat($in: CreateChatInput!) { createChat(createChatInput: $in) { ${CHAT} } }`;
export const ADD_PARTICIPANTS = gql`mutation AddParticipants($chatId: ID!, $userIds: [String!]!) {
  addParticipants(chatId: $chatId, userIds: $userIds) { ${CHAT} } }`;
export const CREATE_MESSAGE = gql`mutation CreateMessage($in: CreateMessageInput!) { createMessage(createMessageInput: $in) { ${MSG} } }`;
export const UPDATE_MESSAGE = gql`mutation UpdateMessage($id: ID!, $content: String!, $userId: String!) {
  updateMessage(id: $id, content: $content, userId: $userId) { ${MSG} } }`;
export const REMOVE_MESSAGE = gql`mutation RemoveMessage($id: ID!, $userId: String!) { removeMessage(id: $id, userId: $userId) { ${MSG} } }`;
export const MARK_CHAT_READ = gql`mutation MarkChatAsRead($chatId: ID!, $upToSeq: Int) { markChatAsRead(chatId: $chatId, upToSeq: $upToSeq) }`;
export const SET_TYPING = gql`mutation SetTyping($chatId: ID!, $isTyping: Boolean!) { setTyping(chatId: $chatId, isTyping: $isTyping) }`;

/** One request for the read status of many messages (aliases r0, r1, ...). */
export function readStatusQuery(ids) {
  const parts = ids.map((id, i) => `r${i}: messageReadStatus(messageId: ${JSON.stringify(id)}) { messageId totalParticipants readByCount isFullyRead readByUsers { userId } }`);
  return gql(`query MessageReadStatuses { ${parts.join('\n')} }`);
}

/** Who is online in each of many chats (aliases o0, o1, ...). */
export function onlineQuery(chatIds) {
  const parts = chatIds.map((id, i) => `o${i}: onlineUsers(chatId: ${JSON.stringify(id)}) { id }`);
  return gql(`query OnlineUsers { ${parts.join('\n')} }`);
}

// subscriptions (graphql-ws, receiver)
export const SUB_CHAT_EVENTS = `subscription ChatEvents($chatId: ID!, $afterSeq: Int) {
  chatEvents(chatId: $chatId, afterSeq: $afterSeq) { chatId seq kind userId upToSeq readAt message { ${MSG} } } }`;
export const SUB_TYPING = `subscription Typing($chatId: ID!) { typing(chatId: $chatId) { chatId userId isTyping } }`;
export const SUB_UNREAD = `subscription UnreadCountUpdated($userId: String!) { unreadCountUpdated(userId: $userId) { chatId unreadCount seq } }`;
export const SUB_PREVIEW = `subscription MessageUpdateForChatList($userId: String!) { messageUpdateForChatList(userId: $userId) { ${MSG} } }`;
export const SUB_CHAT_ADDED = `subscription ChatAdded($userId: String!) { chatAdded(userId: $userId) { ${CHAT} } }`;
export const SUB_CHAT_UPDATED = `subscription ChatUpdated($userId: String!) { chatUpdated(userId: $userId) { ${CHAT} } }`;
export const SUB_PRESENCE = `subscription PresenceUpdated($chatId: ID!) { presenceUpdated(chatId: $chatId) { chatId userId online } }`;
