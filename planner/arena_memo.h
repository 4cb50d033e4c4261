// arena_memo.h — the exact arena search's memo of failed nodes (arena_exact.h,
// steps 3 and 3b): a node's 128-bit key, the span of points that explains a
// failure, and KeySet, the flat hash map from one to the other. Internal to
// planner/arena.cc's library (arena_decision.cc).
#ifndef SLIMTRAIN_PLANNER_ARENA_MEMO_H_
#define SLIMTRAIN_PLANNER_ARENA_MEMO_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace slimtrain::planner::arena_internal {

// A node's identity (step 3): 128 bits of hash of the placed set and the skyline.
struct Key {
  uint64_t a, b;
  bool operator==(const Key& o) const { return a == o.a && b == o.b; }
};

// Points [lo, hi] of the skyline (none when lo > hi): why a node fails
// (step 3b). The node's subtree fails whatever lies outside them: the
// heights there and the placed items alive only there.
struct Span {
  int32_t lo, hi;
  Span Hull(Span o) const {
    if (lo > hi) return o;
    if (o.lo > o.hi) return *this;
    return {std::min(lo, o.lo), std::max(hi, o.hi)};
  }
  bool Meets(int32_t a, int32_t b) const { return lo <= b && a <= hi; }
};

// A map from keys to spans by open addressing (linear probing in one flat
// array, doubled at half full): one memory access a lookup where a
// node-based hash set takes two or three, and no allocation an insert
// (bench: the memo took a third of the search's time as
// std::unordered_set). A slot is 16 bytes: 96 bits of the key (collisions
// at odds of 2^-96 a pair) and the span's ends as 16-bit points (Decision
// reads spans on instances of at most kMaxSpanPoints points). Keys are hashes
// already, so the low bits of `a` pick the slot. The all-zero key marks an
// empty slot; a key that is all zero is stored with b = 1.
class KeySet {
 public:
  size_t size() const { return size_; }
  // Whether `key` is in the set; if so, `why` gets the span stored with it.
  bool contains(const Key& key, Span& why) const {
    if (slots_.empty()) return false;
    const Slot want = Pack(key, {0, -1});
    for (size_t i = want.a & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].a == want.a && slots_[i].b == want.b) {
        why = {slots_[i].lo, slots_[i].hi};
        return true;
      }
      if (slots_[i].a == 0 && slots_[i].b == 0) return false;
    }
  }
  // Starts loading the slot `key` would be looked up in.
  void Prefetch(const Key& key) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[key.a & mask_]);
  }
  // `why` reads back as stored when within [0, kMaxSpanPoints); an empty
  // one reads back as every point up to that (a coarser reason, still true).
  void insert(const Key& key, Span why) {
    if (2 * (size_ + 1) > slots_.size()) Grow();
    size_ += Put(slots_, mask_, Pack(key, why)) ? 1 : 0;
  }
  void clear() {
    std::fill(slots_.begin(), slots_.end(), Slot{});
    size_ = 0;
  }

 private:
  struct Slot {
    uint64_t a = 0;
    uint32_t b = 0;
    uint16_t lo = 0, hi = 0;
  };
  static Slot Pack(const Key& key, Span why) {
    Slot slot{key.a, static_cast<uint32_t>(key.b), static_cast<uint16_t>(why.lo), static_cast<uint16_t>(why.hi)};
    if (slot.a == 0 && slot.b == 0) slot.b = 1;
    return slot;
  }
  // Puts `slot` in `slots`; false when its key was there.
  static bool Put(std::vector<Slot>& slots, size_t mask, const Slot& slot) {
    for (size_t i = slot.a & mask;; i = (i + 1) & mask) {
      if (slots[i].a == slot.a && slots[i].b == slot.b) return false;
      if (slots[i].a == 0 && slots[i].b == 0) {
        slots[i] = slot;
        return true;
      }
    }
  }
  void Grow() {
    std::vector<Slot> bigger(std::max<size_t>(1024, 2 * slots_.size()));
    const size_t mask = bigger.size() - 1;
    for (const Slot& slot : slots_) {
      if (slot.a != 0 || slot.b != 0) Put(bigger, mask, slot);
    }
    slots_.swap(bigger);
    mask_ = mask;
  }

  std::vector<Slot> slots_;  // empty, or a power of two of them
  size_t mask_ = 0;
  size_t size_ = 0;
};

// Spans are read (and backjumping done) on instances with at most this many
// points: KeySet keeps a span's ends in 16 bits. PlanArena's exact search has
// at most kMaxExactBuffers.
inline constexpr int32_t kMaxSpanPoints = 0xffff;

}  // namespace slimtrain::planner::arena_internal

#endif  // SLIMTRAIN_PLANNER_ARENA_MEMO_H_
