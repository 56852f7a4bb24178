//! A bounded least-recently-used map from 64-bit signatures to values: the store behind the
//! check cache (Istio's `SimpleLRUCache`). Nodes live in one vector linked by index, so a hit
//! moves nothing but two links and the map never grows past its capacity.

use rustc_hash::FxHashMap;

const NONE: usize = usize::MAX;

#[derive(Debug)]
struct Node<V> {
    key: u64,
    value: V,
    prev: usize,
    next: usize,
}

/// At most `capacity` entries; inserting into a full map evicts the least recently used.
#[derive(Debug)]
pub struct Lru<V> {
    map: FxHashMap<u64, usize>,
    nodes: Vec<Node<V>>,
    /// Most recently used.
    head: usize,
    /// Least recently used.
    tail: usize,
    /// Slots of removed nodes, reused before the vector grows.
    free: Vec<usize>,
    capacity: usize,
}

impl<V> Lru<V> {
    pub fn new(capacity: usize) -> Lru<V> {
        Lru {
            map: FxHashMap::default(),
            nodes: Vec::new(),
            head: NONE,
            tail: NONE,
            free: Vec::new(),
            capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The value under `key`, marked most recently used.
    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        let i = *self.map.get(&key)?;
        self.unlink(i);
        self.push_front(i);
        Some(&mut self.nodes[i].value)
    }

    /// Sets `key` to `value` (most recently used), evicting the least recently used entry when
    /// full. Returns true when an entry was evicted.
    pub fn insert(&mut self, key: u64, value: V) -> bool {
        if self.capacity == 0 {
            return false;
        }
        if let Some(&i) = self.map.get(&key) {
            self.nodes[i].value = value;
            self.unlink(i);
            self.push_front(i);
            return false;
        }
        let mut evicted = false;
        let node = Node {
            key,
            value,
            prev: NONE,
            next: NONE,
        };
        let i = if self.map.len() >= self.capacity && self.tail != NONE {
            // Reuse the least recently used slot.
            let i = self.tail;
            self.unlink(i);
            self.map.remove(&self.nodes[i].key);
            self.nodes[i] = node;
            evicted = true;
            i
        } else if let Some(i) = self.free.pop() {
            self.nodes[i] = node;
            i
        } else {
            self.nodes.push(node);
            self.nodes.len() - 1
        };
        self.map.insert(key, i);
        self.push_front(i);
        evicted
    }

    pub fn remove(&mut self, key: u64) {
        if let Some(i) = self.map.remove(&key) {
            self.unlink(i);
            self.free.push(i);
        }
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = (self.nodes[i].prev, self.nodes[i].next);
        if prev == NONE {
            self.head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NONE {
            self.tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        self.nodes[i].prev = NONE;
        self.nodes[i].next = NONE;
    }

    fn push_front(&mut self, i: usize) {
        self.nodes[i].prev = NONE;
        self.nodes[i].next = self.head;
        if self.head != NONE {
            self.nodes[self.head].prev = i;
        }
        self.head = i;
        if self.tail == NONE {
            self.tail = i;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Lru;

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let mut lru = Lru::new(2);
        assert!(!lru.insert(1, "a"));
        assert!(!lru.insert(2, "b"));
        assert_eq!(lru.get_mut(1).copied(), Some("a")); // 2 is now the oldest
        assert!(lru.insert(3, "c"));
        assert_eq!(lru.get_mut(2), None);
        assert_eq!(lru.get_mut(1).copied(), Some("a"));
        assert_eq!(lru.get_mut(3).copied(), Some("c"));
        assert_eq!(lru.len(), 2);
    }

    #[test]
    fn removed_slots_are_reused_and_replacing_keeps_one_entry() {
        let mut lru = Lru::new(3);
        for k in 0..3 {
            lru.insert(k, k);
        }
        lru.remove(1);
        lru.remove(1);
        assert_eq!(lru.len(), 2);
        lru.insert(7, 7);
        lru.insert(7, 8);
        assert_eq!(lru.len(), 3);
        assert_eq!(lru.nodes.len(), 3, "the freed slot was reused");
        assert_eq!(lru.get_mut(7).copied(), Some(8));
        assert_eq!(lru.get_mut(0).copied(), Some(0));
        assert!(lru.insert(9, 9)); // evicts 2, the oldest
        assert_eq!(lru.get_mut(2), None);
    }

    #[test]
    fn zero_capacity_holds_nothing() {
        let mut lru = Lru::new(0);
        lru.insert(1, ());
        assert!(lru.is_empty());
        assert!(lru.get_mut(1).is_none());
    }
}
