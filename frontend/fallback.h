// Partial compilation: the TorchScript ops sinter cannot compile (or that
// the user names) are gathered into segments that LibTorch runs at run time,
// through the "torch" plugin (include/sinter/sinter_plugin.h). Each segment
// becomes one `plugin_segment` op whose payload is a serialised TorchScript
// module: forward(inputs...) -> (outputs...).
//
// The importer evaluates nodes in order, so segments grow as it goes: a
// node that goes to LibTorch joins the open segment; compiled nodes that do
// not read the segment's results are lowered while it stays open (so a
// segment's ops need not be adjacent in the source), and the first compiled
// node that reads one of its results closes it: the segment op is emitted
// with every result something outside it reads. A node that reads a value
// sinter cannot hold (a complex tensor, a list of tensors, an int computed
// from tensor data) joins the segment instead, as does any node while the
// segment holds such a value that something outside it still reads; so
// only tensors of sinter's dtypes cross between sinter and LibTorch.
//
// Each node is also run by LibTorch as it joins, on example inputs (the
// constants' own values, random data for run-time tensors), which gives the
// segment's result types. A result whose size depends on the data (nonzero)
// is caught by the plugin at run time: it checks every result against the
// recorded shape.
#ifndef SINTER_FRONTEND_FALLBACK_H_
#define SINTER_FRONTEND_FALLBACK_H_

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "frontend/importer.h"
#include "frontend/torchscript.h"

namespace sinter::frontend {

class Fallback {
 public:
  Fallback(Importer& im, const FallbackOptions& options,
           const std::unordered_set<const tj::Node*>& forced);
  ~Fallback();

  // Before the importer lowers `n`: true when `n` joined the open segment
  // (named by --torch-executed-ops, forced by min_block_size, or reading a
  // value only LibTorch can hold); otherwise closes the segment when `n`
  // reads one of its results, and the importer lowers `n`. A node without
  // a lowering (`lowerable` false) that reads the segment joins it.
  absl::StatusOr<bool> Take(tj::Node* n, bool lowerable);
  // `n` has no lowering: it joins the open segment.
  absl::Status Add(tj::Node* n);
  // Emits the open segment, if any. With `model`, the model's top-level
  // block at the end of the import: what it returns from the segment leaves
  // too, taken apart into tensors (and may have data-dependent sizes).
  absl::Status Close(const tj::Block* model = nullptr);
  // Is `v` computed by the open segment (and not yet one of its results)?
  bool Pending(const tj::Value* v) const;
  // For a pending `v`: may it cross into compiled code?
  bool CanCrossPending(const tj::Value* v) const;
  // `to` (a block's result taking pending `from`'s value: an inlined
  // branch, an unrolled loop) is the same segment value.
  void Alias(const tj::Value* from, const tj::Value* to);
  // The importer evaluates `v`'s node again (a loop's next iteration): a
  // segment value that an earlier iteration left for it is stale.
  void Forget(const tj::Value* v);

  // One entry per evaluated node that made IR ops or joined a segment, in
  // order, for min_block_size.
  struct Event {
    const tj::Node* node;
    bool torch;
  };
  std::vector<Event>& events() { return events_; }
  int segments() const { return segments_; }
  // Is the size of `n`'s result known only from the data (nonzero, x[mask],
  // nms)? Such a node goes to LibTorch, and what reads its result too: its
  // results leave the model with the size the run gives them (dims -1).
  static bool DataDependent(Importer& im, const tj::Node* n);

 private:
  struct Open;
  bool Holdable(const c10::IValue& example) const;
  // May segment value `seg` cross into compiled code (holdable, not dynamic)?
  bool CanCross(const tj::Value* seg) const;
  bool Stranded() const;
  absl::StatusOr<tj::Value*> SegValue(const tj::Value* v);
  absl::StatusOr<tj::Value*> SegValueOf(const Val& val, const c10::TypePtr& type);
  // Runs `clone` (of `original`, or null) on the examples for its results'
  // examples; `written`: segment containers a control-flow node writes,
  // whose examples its run updates.
  absl::Status Examples(tj::Node* clone, tj::Node* original,
                        const std::vector<tj::Value*>& written = {});
  // Runs the segment so far once on the examples of its inputs and gives
  // the values of `values`, as that one run leaves them (throws LibTorch's
  // errors).
  std::vector<c10::IValue> RunPrefix(const std::vector<tj::Value*>& values);
  // Takes segment value `seg` (a tensor, or tuples, lists and string-keyed
  // dicts of them) apart into tensor `leaves` (each with whether its size is
  // data-dependent); `shape` gets the structure, leaves as null tensors.
  absl::Status Flatten(tj::Value* seg, bool dynamic, Val* shape,
                       std::vector<std::pair<tj::Value*, bool>>* leaves);
  bool InSegment(const tj::Node* user) const;

  Importer& im_;
  const FallbackOptions& options_;
  const std::unordered_set<const tj::Node*>& forced_;
  std::unique_ptr<Open> open_;
  std::vector<Event> events_;
  int segments_ = 0;
  int64_t symbols_ = 0;  // data-dependent dimensions so far
  // Object attributes set to segment values: (the object's items, name) to
  // the TorchScript value set.
  std::map<std::pair<const void*, std::string>, const tj::Value*> attrs_;
};

// The segment module's payload: `graph` (inputs: the segment's inputs;
// output: a tuple of its results) saved as a TorchScript module.
absl::StatusOr<std::string> SerializeSegment(const std::shared_ptr<tj::Graph>& graph);

}  // namespace sinter::frontend

#endif  // SINTER_FRONTEND_FALLBACK_H_
