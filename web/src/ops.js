// ops.js — the GraphQL documents the client sends. Names follow the seeds'
// client; routing is by operation type and root field (routing.js, from the
// schema's @owner).
import { gql } from '@apollo/client';
import { features } from './net.js';

const USER = 'id username displayName online';
// users(first: 5): the first reactors shown by name ("and N more"); keeps a page of 30 messages well under the cost budget
// users(first: 5): the first reactors by name ("and N more"); a page of 30 messages
// then costs ~8,000 of the 25,000 budget (CHATD_MAX_QUERY_COST)
const REACTIONS = 'reactions { emoji count reactedByMe users(first: 5) { id username displayName } }';
const QUOTED = 'replyTo { id content senderId deletedAt seq type }';
// Message.attachments only when the server has them (net.js probeFeatures runs before this module loads)
const ATTACHMENTS = features.attachments ? 'attachments { id contentType size name width height url thumbnailUrl }' : '';
export const MSG = `id content senderId chatId isEdited editedAt createdAt deletedAt seq type replyToId ${QUOTED} ${REACTIONS} ${ATTACHMENTS}`;
const CHAT = `id name description chatType isActive participantIds lastSeq unreadCount updatedAt myRole memberCount
  participants { ${USER} } lastMessage { ${MSG} }`;
const MEMBERS = 'members(first: 1000) { totalCount edges { node { role joinedAt user { id username displayName online lastSeenAt } } } }';

export const AUTH = `token refreshToken user { ${USER} }`;
export const LOGIN = gql`mutation Login($u: String!, $p: String!) { login(username: $u, password: $p) { ${AUTH} } }`;
export const CREATE_USER = gql`mutation CreateUser($in: CreateUserInput!) { createUser(createUserInput: $in) { id username } }`;
export const LOGOUT = gql`mutation Logout($t: String) { logout(refreshToken: $t) }`;
export const UPDATE_USER = gql`mutation UpdateUser($in: UpdateUserInput!) { updateUser(updateUserInput: $in) { ${USER} } }`;
export const CHANGE_PASSWORD = gql`mutation ChangePassword($old: String!, $new: String!) { changePassword(oldPassword: $old, newPassword: $new) }`;
export const SEARCH_USERS = gql`query SearchUsers($s: String, $limit: Int) { users(search: $s, limit: $limit) { ${USER} } }`;

export const GET_CHATS = gql`query GetChats { chats { ${CHAT} } }`;
export const GET_CHAT = gql`query GetChat($id: ID!) { chat(id: $id) { ${CHAT} } }`;
export const GET_MEMBERS = gql`query GetMembers($id: ID!) { chat(id: $id) { id myRole ${MEMBERS} } }`;
export const GET_MESSAGES = gql`query GetMessages($chatId: ID!, $limit: Int, $beforeSeq: Int, $afterSeq: Int) {
  messages(chatId: $chatId, limit: $limit, beforeSeq: $beforeSeq, afterSeq: $afterSeq) { ${MSG} } }`;
export const SEARCH_MESSAGES = gql`query SearchMessages($q: String!, $chatId: ID, $first: Int, $after: String) {
  searchMessages(query: $q, chatId: $chatId, first: $first, after: $after) {
    edges { cursor highlight message { id chatId seq senderId createdAt } } pageInfo { hasNextPage endCursor } } }`;

export const CREATE_CHAT = gql`mutation CreateChat($in: CreateChatInput!) { createChat(createChatInput: $in) { ${CHAT} } }`;
export const ADD_PARTICIPANTS = gql`mutation AddParticipants($chatId: ID!, $userIds: [String!]!) {
  addParticipants(chatId: $chatId, userIds: $userIds) { ${CHAT} } }`;
export const REMOVE_PARTICIPANT = gql`mutation RemoveParticipant($chatId: ID!, $userId: String!) {
  removeParticipant(chatId: $chatId, userId: $userId) { ${CHAT} } }`;
export const SET_ROLE = gql`mutation SetParticipantRole($chatId: ID!, $userId: String!, $role: ChatRole!) {
  setParticipantRole(chatId: $chatId, userId: $userId, role: $role) { ${CHAT} } }`;
export const UPDATE_CHAT = gql`mutation UpdateChat($in: UpdateChatInput!) { updateChat(updateChatInput: $in) { ${CHAT} } }`;
export const LEAVE_CHAT = gql`mutation LeaveChat($chatId: ID!) { leaveChat(chatId: $chatId) }`;
export const CREATE_MESSAGE = gql`mutation CreateMessage($in: CreateMessageInput!) { createMessage(createMessageInput: $in) { ${MSG} } }`;
export const UPDATE_MESSAGE = gql`mutation UpdateMessage($id: ID!, $content: String!, $userId: String!) {
  updateMessage(id: $id, content: $content, userId: $userId) { ${MSG} } }`;
export const REMOVE_MESSAGE = gql`mutation RemoveMessage($id: ID!, $userId: String!) { removeMessage(id: $id, userId: $userId) { ${MSG} } }`;
export const ADD_REACTION = gql`mutation AddReaction($id: ID!, $emoji: String!) { addReaction(messageId: $id, emoji: $emoji) { ${MSG} } }`;
export const REMOVE_REACTION = gql`mutation RemoveReaction($id: ID!, $emoji: String!) { removeReaction(messageId: $id, emoji: $emoji) { ${MSG} } }`;
export const MARK_CHAT_READ = gql`mutation MarkChatAsRead($chatId: ID!, $upToSeq: Int) { markChatAsRead(chatId: $chatId, upToSeq: $upToSeq) }`;
export const MARK_CHAT_DELIVERED = gql`mutation MarkChatAsDelivered($chatId: ID!, $upToSeq: Int!) { markChatAsDelivered(chatId: $chatId, upToSeq: $upToSeq) }`;
export const SET_TYPING = gql`mutation SetTyping($chatId: ID!, $isTyping: Boolean!) { setTyping(chatId: $chatId, isTyping: $isTyping) }`;

/** One request for the read + delivered status of many messages (aliases r0, r1, ...). */
export function readStatusQuery(ids) {
  const parts = ids.map((id, i) => `r${i}: messageReadStatus(messageId: ${JSON.stringify(id)}) { messageId readByUsers { userId } deliveredToUsers { userId } }`);
  return gql(`query MessageReadStatuses { ${parts.join('\n')} }`);
}

/** Who is online in each of many chats (aliases o0, o1, ...). */
export function onlineQuery(chatIds) {
  const parts = chatIds.map((id, i) => `o${i}: onlineUsers(chatId: ${JSON.stringify(id)}) { id }`);
  return gql(`query OnlineUsers { ${parts.join('\n')} }`);
}

// subscriptions (graphql-ws, receiver; useSubscription through net.js's link)
export const SUB_CHAT_EVENTS = gql`subscription ChatEvents($chatId: ID!, $afterSeq: Int) {
  chatEvents(chatId: $chatId, afterSeq: $afterSeq) { chatId seq kind userId upToSeq readAt emoji added role message { ${MSG} } } }`;
export const SUB_TYPING = gql`subscription Typing($chatId: ID!) { typing(chatId: $chatId) { chatId userId isTyping } }`;
export const SUB_UNREAD = gql`subscription UnreadCountUpdated($userId: String!) { unreadCountUpdated(userId: $userId) { chatId unreadCount seq } }`;
export const SUB_PREVIEW = gql`subscription MessageUpdateForChatList($userId: String!) { messageUpdateForChatList(userId: $userId) { ${MSG} } }`;
export const SUB_CHAT_ADDED = gql`subscription ChatAdded($userId: String!) { chatAdded(userId: $userId) { ${CHAT} } }`;
export const SUB_CHAT_UPDATED = gql`subscription ChatUpdated($userId: String!) { chatUpdated(userId: $userId) { ${CHAT} } }`;
export const SUB_PRESENCE = gql`subscription PresenceUpdated($chatId: ID!) { presenceUpdated(chatId: $chatId) { chatId userId online } }`;
