//! A chat's messages as a tree: every message follows its parent, so regenerating an answer,
//! editing a question or sending from an older message adds a sibling and overwrites nothing.
//!
//! The tree is not stored as such: each message keeps its `parent_id` (or `root`), and a chat
//! its current leaf. Messages saved before conversations were trees have neither; each follows
//! the message written before it, so an old chat reads as one branch, unchanged on disk.

use std::collections::HashMap;

use super::records::{MessageRecord, MessageStatus, MessageView, Role};

/// The messages of one chat, in the order they were written, linked into a tree.
pub struct Tree<'a> {
    /// Sorted by `(created_at, seq)`: the order they were written.
    messages: &'a [MessageRecord],
    parent: Vec<Option<usize>>,
    children: Vec<Vec<usize>>,
    roots: Vec<usize>,
    index: HashMap<&'a str, usize>,
}

impl<'a> Tree<'a> {
    /// Link `messages`, which must be sorted in the order they were written. A parent that
    /// is not among them (it cannot happen without tampering, which the manifest reports)
    /// makes its child a root, and so does a parent link that would close a loop.
    pub fn new(messages: &'a [MessageRecord]) -> Self {
        let index: HashMap<&str, usize> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.as_str(), i))
            .collect();
        let mut parent: Vec<Option<usize>> = messages
            .iter()
            .enumerate()
            .map(|(i, message)| match &message.parent_id {
                Some(id) => index.get(id.as_str()).copied().filter(|&p| p != i),
                None if message.root => None,
                // Saved before trees: the message written just before.
                None => i.checked_sub(1),
            })
            .collect();
        break_loops(&mut parent);
        let mut children = vec![Vec::new(); messages.len()];
        let mut roots = Vec::new();
        for (i, p) in parent.iter().enumerate() {
            match p {
                Some(p) => children[*p].push(i),
                None => roots.push(i),
            }
        }
        Tree {
            messages,
            parent,
            children,
            roots,
            index,
        }
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn message(&self, at: usize) -> &'a MessageRecord {
        &self.messages[at]
    }

    /// Where the message with this id is.
    pub fn find(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub fn parent(&self, at: usize) -> Option<usize> {
        self.parent[at]
    }

    /// The current leaf: the chat's, or (a chat saved before trees, or one that names a
    /// message it does not hold) the newest message.
    pub fn leaf(&self, leaf_id: Option<&str>) -> Option<usize> {
        leaf_id
            .and_then(|id| self.find(id))
            .or_else(|| self.len().checked_sub(1))
    }

    /// The messages from the top of the chat down to `at`, in order.
    pub fn path_to(&self, at: usize) -> Vec<usize> {
        let mut path = vec![at];
        let mut next = self.parent[at];
        while let Some(p) = next {
            path.push(p);
            next = self.parent[p];
        }
        path.reverse();
        path
    }

    /// The current branch: the path to the leaf (empty for a chat with no message).
    pub fn branch(&self, leaf_id: Option<&str>) -> Vec<usize> {
        self.leaf(leaf_id)
            .map(|leaf| self.path_to(leaf))
            .unwrap_or_default()
    }

    /// The newest message at or below `at`: where that branch was last continued.
    pub fn newest_below(&self, at: usize) -> usize {
        let mut newest = at;
        let mut stack = vec![at];
        while let Some(node) = stack.pop() {
            newest = newest.max(node);
            stack.extend(&self.children[node]);
        }
        newest
    }

    /// The messages with the same parent as `at` (it included), in the order they were
    /// written.
    pub fn siblings(&self, at: usize) -> &[usize] {
        match self.parent[at] {
            Some(p) => &self.children[p],
            None => &self.roots,
        }
    }

    /// The message as editors see it: with its parent and its siblings' ids.
    pub fn view(&self, at: usize) -> MessageView {
        MessageView::new(
            &self.messages[at],
            self.parent[at].map(|p| self.messages[p].id.clone()),
            self.siblings(at)
                .iter()
                .map(|&s| self.messages[s].id.clone())
                .collect(),
        )
    }

    /// The last user turn on a path.
    pub fn last_user_turn(&self, path: &[usize]) -> Option<usize> {
        path.iter()
            .rev()
            .copied()
            .find(|&at| self.messages[at].role == Role::User)
    }

    /// What the model is sent of a path: every turn but those whose answer failed (an error,
    /// an answer with no text, or none at all), which are left out with the user's message,
    /// so a question is never sent twice nor two user messages in a row.
    pub fn context(&self, path: &[usize]) -> Vec<&'a MessageRecord> {
        let mut out = Vec::with_capacity(path.len());
        let mut asked: Option<&MessageRecord> = None;
        for &at in path {
            let message = &self.messages[at];
            match message.role {
                Role::System => out.push(message),
                // An earlier question still waiting had no answer: left out.
                Role::User => asked = Some(message),
                Role::Assistant => {
                    let question = asked.take();
                    let answered =
                        message.status != MessageStatus::Error && !message.content.is_empty();
                    if answered {
                        out.extend(question);
                        out.push(message);
                    }
                }
            }
        }
        out
    }
}

/// Break loops (only a crafted record could make one): the message where a walk up its
/// ancestors comes back to itself becomes a root. Each message is walked once. Returns the
/// messages made roots.
pub(crate) fn break_loops(parent: &mut [Option<usize>]) -> Vec<usize> {
    let mut broken = Vec::new();
    const NEW: u8 = 0;
    const WALKING: u8 = 1;
    const DONE: u8 = 2;
    let mut state = vec![NEW; parent.len()];
    let mut walked = Vec::new();
    for start in 0..parent.len() {
        let mut at = Some(start);
        while let Some(node) = at {
            match state[node] {
                DONE => break,
                WALKING => {
                    parent[node] = None;
                    broken.push(node);
                    break;
                }
                _ => {
                    state[node] = WALKING;
                    walked.push(node);
                    at = parent[node];
                }
            }
        }
        for node in walked.drain(..) {
            state[node] = DONE;
        }
    }
    broken
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, role: Role, parent: Option<&str>, seq: u64) -> MessageRecord {
        MessageRecord {
            id: id.into(),
            parent_id: parent.map(str::to_string),
            root: parent.is_none(),
            seq,
            ..MessageRecord::new(role, format!("text of {id}"), seq as i64)
        }
    }

    fn ids<'a>(tree: &Tree<'a>, at: &[usize]) -> Vec<&'a str> {
        at.iter().map(|&i| tree.message(i).id.as_str()).collect()
    }

    #[test]
    fn messages_saved_before_trees_read_as_one_branch() {
        let messages: Vec<MessageRecord> = (0..4)
            .map(|i| MessageRecord {
                id: format!("m{i}"),
                seq: i,
                ..MessageRecord::new(
                    if i % 2 == 0 {
                        Role::User
                    } else {
                        Role::Assistant
                    },
                    "x".into(),
                    i as i64,
                )
            })
            .collect();
        let tree = Tree::new(&messages);
        assert_eq!(ids(&tree, &tree.branch(None)), ["m0", "m1", "m2", "m3"]);
        assert_eq!(tree.siblings(2).len(), 1);
    }

    #[test]
    fn siblings_branches_and_switching() {
        let messages = vec![
            message("u1", Role::User, None, 0),
            message("a1", Role::Assistant, Some("u1"), 1),
            message("u2", Role::User, Some("a1"), 2),
            message("a2", Role::Assistant, Some("u2"), 3),
            message("a1b", Role::Assistant, Some("u1"), 4),
            message("u1b", Role::User, None, 5),
        ];
        let tree = Tree::new(&messages);
        assert_eq!(ids(&tree, tree.siblings(1)), ["a1", "a1b"]);
        assert_eq!(ids(&tree, tree.siblings(0)), ["u1", "u1b"]);
        assert_eq!(
            ids(&tree, &tree.branch(Some("a2"))),
            ["u1", "a1", "u2", "a2"]
        );
        // Switching to a1 returns to where that branch was last continued.
        assert_eq!(tree.newest_below(1), 3);
        assert_eq!(tree.newest_below(4), 4);
        assert_eq!(tree.view(4).parent_id.as_deref(), Some("u1"));
    }

    #[test]
    fn failed_turns_are_not_sent_again() {
        let mut messages = vec![
            message("u1", Role::User, None, 0),
            message("a1", Role::Assistant, Some("u1"), 1),
            message("u2", Role::User, Some("a1"), 2),
            message("a2", Role::Assistant, Some("u2"), 3),
            message("u3", Role::User, Some("a2"), 4),
            message("u4", Role::User, Some("u3"), 5),
            message("a4", Role::Assistant, Some("u4"), 6),
        ];
        messages[3].status = MessageStatus::Error;
        let tree = Tree::new(&messages);
        let sent: Vec<&str> = tree
            .context(&tree.branch(None))
            .iter()
            .map(|m| m.id.as_str())
            .collect();
        assert_eq!(sent, ["u1", "a1", "u4", "a4"]);
    }

    #[test]
    fn a_crafted_loop_is_broken_into_a_branch() {
        let messages = vec![
            message("x", Role::User, None, 0),
            message("a", Role::User, Some("c"), 1),
            message("b", Role::Assistant, Some("a"), 2),
            message("c", Role::User, Some("b"), 3),
        ];
        let tree = Tree::new(&messages);
        // Every message is reachable from a root, and every path ends.
        for at in 0..tree.len() {
            let path = tree.path_to(at);
            assert!(path.len() <= tree.len());
            assert!(tree.parent(path[0]).is_none());
        }
        assert_eq!(tree.roots.len(), 2);
    }

    #[test]
    fn a_long_line_of_messages_links_in_linear_time() {
        let messages: Vec<MessageRecord> = (0..100_000)
            .map(|i| MessageRecord {
                id: format!("m{i}"),
                seq: i,
                ..MessageRecord::new(Role::User, String::new(), 0)
            })
            .collect();
        let tree = Tree::new(&messages);
        assert_eq!(tree.branch(None).len(), 100_000);
    }
}
