// A heap-backed counter tree for tests.
#ifndef MEMGROUP_TESTS_COUNTER_TREE_FIXTURE_H_
#define MEMGROUP_TESTS_COUNTER_TREE_FIXTURE_H_

#include <memory>

#include "counter/counter_tree.h"

namespace memgroup::internal::testing {

class TreeFixture {
 public:
  explicit TreeFixture(uint32_t n = 64)
      : nodes_(new PageCounter[n]), tree_(nodes_.get(), n) {}
  // Adds node `i` under `parent`.
  uint32_t Add(uint32_t i, uint32_t parent) {
    tree_.InitNode(i, parent);
    return i;
  }
  const CounterTree& tree() const { return tree_; }

 private:
  std::unique_ptr<PageCounter[]> nodes_;
  CounterTree tree_;
};

}  // namespace memgroup::internal::testing

#endif  // MEMGROUP_TESTS_COUNTER_TREE_FIXTURE_H_
