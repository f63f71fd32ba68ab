// sinterc: compiles a TorchScript model into a sinter artifact.
//
//   sinterc MODEL.pt -o MODEL.sinter --input-shape 1,3,224,224 [--input-shape ...]
//   (a dimension NAME=MIN..MAX, e.g. batch=1..64,3,224,224: one artifact for
//   every batch in the range, run one sample at a time; ir/batch_analysis.h)
//           [--input-dtype f32,...] [-O0 | --pipeline NAME] [--report]
//           [--report-json FILE] [--print-ir-after=PASS] [--print-ir-after-all]
//           [--emit-ir FILE] [--dot FILE] [--time-passes]
//           [--cpu auto|none|x86-64|x86-64-v3|x86-64-v4|native] [--emit-llvm FILE]
//           [--target cpu|cuda|cuda:sm_80,sm_90] [--precision fp32|fp16|bf16] [--tf32]
//           [--io-precision model|storage] [--layout auto|nhwc|nchw]
//           [--fallback torch [--min-block-size N] [--torch-executed-ops aten::a,...]]
//           [--plugin libsinter_plugin_NAME.so] [--torch-library libops.so]
//
// --fallback torch: what sinter cannot compile (and the ops named) runs in
// LibTorch at run time, through the "torch" plugin (libsinter_plugin_torch.so,
// include/sinter/sinter_plugin.h); the runtime itself stays LibTorch-free.
// --plugin: a sinter plugin's custom ops replace the TorchScript ops of the
// same name (examples/custom_op); --torch-library: a LibTorch extension to
// load first, so that a model calling its ops can be read at all.
//
// Exit status: 0 on success, 1 for bad usage, 2 when the model cannot be
// compiled (unsupported ops, bad shapes), with the reason on stderr.
#include <cctype>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "codegen/compiler.h"
#include "frontend/torchscript.h"
#include "ir/printer.h"

namespace {

int Usage(const std::string& msg) {
  std::cerr
      << "sinterc: " << msg << "\n"
      << "usage: sinterc MODEL.pt -o OUT.sinter --input-shape D0,D1,... [--input-shape ...]\n"
         "               [--input-dtype f32[,i64...]] [-O0|--pipeline NAME] [--report]\n"
         "               [--report-json FILE] [--print-ir-after=PASS] [--print-ir-after-all]\n"
         "               [--emit-ir FILE] [--dot FILE] [--time-passes]\n"
         "               [--cpu auto|none|x86-64|x86-64-v3|x86-64-v4|native] [--emit-llvm FILE]\n"
         "               [--target cpu|cuda|cuda:sm_80,sm_90] [--precision fp32|fp16|bf16] "
         "[--tf32]\n               [--io-precision model|storage] [--layout auto|nhwc|nchw]\n"
         "               [--fallback torch [--min-block-size N] [--torch-executed-ops "
         "aten::a,...]]\n"
         "               [--plugin libsinter_plugin_NAME.so] [--torch-library libops.so]\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sinter;
  std::string model, out, report_json, emit_ir, emit_llvm, dot, llvm_ir, batch_name;
  bool report = false;
  frontend::ImportOptions import;
  std::vector<ir::DType> dtypes;
  codegen::CompileOptions copts;
  copts.pass_options.dump = &std::cerr;
  copts.pass_options.verify_each = true;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* flag) -> std::string {
      std::string prefix = std::string(flag) + "=";
      if (a.rfind(prefix, 0) == 0) return a.substr(prefix.size());
      if (i + 1 >= args.size()) return "";
      return args[++i];
    };
    if (a == "-o") {
      out = value("-o");
    } else if (a.rfind("--input-shape", 0) == 0) {
      // D0,D1,... with every dimension a positive number; `scalar` for a
      // 0-d tensor. An empty field ("1,,3") is an error, not a dropped dim.
      frontend::InputSpec spec;
      const std::string text = value("--input-shape");
      if (text.empty()) return Usage("empty --input-shape (use 'scalar' for a 0-d input)");
      if (text != "scalar") {
        for (absl::string_view d : absl::StrSplit(text, ',')) {
          // NAME=MIN..MAX: a dynamic batch (frontend/torchscript.h).
          if (const size_t eq = d.find('='); eq != absl::string_view::npos) {
            const std::string name(d.substr(0, eq));
            const absl::string_view range = d.substr(eq + 1);
            const size_t dots = range.find("..");
            int64_t lo = 0, hi = 0;
            bool ident = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0]));
            for (char c : name) ident &= std::isalnum(static_cast<unsigned char>(c)) || c == '_';
            if (!ident || dots == absl::string_view::npos ||
                !absl::SimpleAtoi(range.substr(0, dots), &lo) ||
                !absl::SimpleAtoi(range.substr(dots + 2), &hi) || lo < 1 || hi < lo) {
              return Usage("bad --input-shape '" + text + "': dimension '" + std::string(d) +
                           "' is not NAME=MIN..MAX (a name and a range of positive numbers)");
            }
            if (spec.batch_axis >= 0 &&
                (name != batch_name || lo != import.batch_min || hi != import.batch_max))
              return Usage("--input-shape '" + text + "': more than one dynamic dimension");
            // The same symbol again (an attention mask seq=1..16,seq=1..16):
            // a symbolic extent on both axes.
            if (spec.batch_axis >= 0) {
              spec.more_axes.push_back(static_cast<int>(spec.shape.size()));
              spec.shape.push_back(1);
              continue;
            }
            if (!batch_name.empty() &&
                (name != batch_name || lo != import.batch_min || hi != import.batch_max)) {
              return Usage("--input-shape '" + text + "': '" + std::string(d) +
                           "' is a second dynamic dimension (only one symbol, the batch, is "
                           "supported; the same NAME=MIN..MAX on several inputs is one symbol)");
            }
            batch_name = name;
            import.batch_symbol = name;
            import.batch_min = lo;
            import.batch_max = hi;
            spec.batch_axis = static_cast<int>(spec.shape.size());
            spec.shape.push_back(1);
            continue;
          }
          int64_t v;
          if (!absl::SimpleAtoi(d, &v) || v <= 0) {
            return Usage("bad --input-shape '" + text + "': dimension '" + std::string(d) +
                         "' is not a positive number");
          }
          spec.shape.push_back(v);
        }
      }
      import.inputs.push_back(spec);
    } else if (a.rfind("--input-dtype", 0) == 0) {
      for (absl::string_view d : absl::StrSplit(value("--input-dtype"), ',', absl::SkipEmpty())) {
        auto dt = ir::ParseDType(std::string_view(d.data(), d.size()));
        if (!dt) return Usage("unknown dtype '" + std::string(d) + "'");
        dtypes.push_back(*dt);
      }
    } else if (a == "-O0") {
      copts.pipeline = "O0";
    } else if (a.rfind("--pipeline", 0) == 0) {
      copts.pipeline = value("--pipeline");
    } else if (a == "--report") {
      report = true;
    } else if (a.rfind("--report-json", 0) == 0) {
      report_json = value("--report-json");
    } else if (a.rfind("--print-ir-after=", 0) == 0) {
      copts.pass_options.print_after.push_back(a.substr(17));
    } else if (a == "--print-ir-after-all") {
      copts.pass_options.print_after_all = true;
    } else if (a == "--time-passes") {
      copts.pass_options.timing = true;
    } else if (a.rfind("--dot", 0) == 0) {
      dot = value("--dot");
    } else if (a.rfind("--target", 0) == 0) {
      copts.target = value("--target");
    } else if (a.rfind("--precision", 0) == 0) {
      copts.precision = value("--precision");
    } else if (a.rfind("--io-precision", 0) == 0) {
      copts.io_precision = value("--io-precision");
    } else if (a.rfind("--layout", 0) == 0) {
      copts.layout = value("--layout");
    } else if (a == "--tf32") {
      copts.allow_tf32 = true;
    } else if (a.rfind("--cpu", 0) == 0) {
      copts.cpu = value("--cpu");
    } else if (a.rfind("--emit-llvm", 0) == 0) {
      emit_llvm = value("--emit-llvm");
      copts.llvm_ir = &llvm_ir;
    } else if (a.rfind("--fallback", 0) == 0) {
      const std::string v = value("--fallback");
      if (v != "torch") return Usage("--fallback takes 'torch', not '" + v + "'");
      import.fallback.enabled = true;
    } else if (a.rfind("--min-block-size", 0) == 0) {
      const std::string v = value("--min-block-size");
      if (!absl::SimpleAtoi(v, &import.fallback.min_block_size) ||
          import.fallback.min_block_size < 1) {
        return Usage("bad --min-block-size '" + v + "': a positive number");
      }
    } else if (a.rfind("--torch-executed-ops", 0) == 0) {
      for (absl::string_view op :
           absl::StrSplit(value("--torch-executed-ops"), ',', absl::SkipEmpty())) {
        if (op.find("::") == absl::string_view::npos)
          return Usage("--torch-executed-ops takes qualified op kinds (aten::relu), not '" +
                       std::string(op) + "'");
        import.fallback.torch_executed_ops.emplace_back(op);
      }
    } else if (a.rfind("--plugin", 0) == 0) {
      import.plugins.push_back(value("--plugin"));
    } else if (a.rfind("--torch-library", 0) == 0) {
      import.torch_libraries.push_back(value("--torch-library"));
    } else if (a.rfind("--emit-ir", 0) == 0) {
      emit_ir = value("--emit-ir");
    } else if (!a.empty() && a[0] == '-') {
      return Usage("unknown flag '" + a + "'");
    } else if (model.empty()) {
      model = a;
    } else {
      return Usage("more than one model given");
    }
  }
  if (model.empty()) return Usage("no model given");
  if (out.empty()) return Usage("no output given (-o)");
  for (size_t i = 0; i < dtypes.size() && i < import.inputs.size(); ++i)
    import.inputs[i].dtype = dtypes[i];

  if (!import.fallback.enabled && !import.fallback.torch_executed_ops.empty())
    return Usage("--torch-executed-ops needs --fallback torch");
  frontend::PartitionSummary partition;
  ir::BatchSymbol batch;
  auto graph = frontend::ImportTorchScript(model, import, &partition, &batch);
  if (!graph.ok()) {
    std::cerr << "sinterc: " << model << ": " << graph.status().message() << "\n";
    return 2;
  }
  if (!batch_name.empty()) copts.batch = batch;
  if (!emit_ir.empty()) {
    std::ofstream(emit_ir) << ir::Print(**graph);
  }
  codegen::CompileReport rep;
  auto artifact = codegen::Compile(**graph, copts, &rep);
  if (import.fallback.enabled && partition.torch_segments > 0) {
    // Torch-TensorRT's advice, in its terms: what min_block_size would give.
    std::string alts;
    for (const auto& [m, k] : partition.alternatives)
      alts += "  min_block_size=" + std::to_string(m) + " gives about " + std::to_string(k) +
              " torch segment(s)\n";
    rep.partition_advice = "min_block_size=" + std::to_string(partition.min_block_size) + ": " +
                           std::to_string(partition.torch_segments) + " torch segment(s) of " +
                           std::to_string(partition.torch_ops) + " TorchScript op(s), " +
                           std::to_string(partition.compiled_ops) + " compiled\n" + alts;
  }
  if (!artifact.ok()) {
    std::cerr << "sinterc: " << model << ": " << artifact.status().message() << "\n";
    return 2;
  }
  std::ofstream f(out, std::ios::binary);
  f.write(artifact->data(), static_cast<std::streamsize>(artifact->size()));
  if (!f) {
    std::cerr << "sinterc: cannot write '" << out << "'\n";
    return 2;
  }
  if (report) std::cout << rep.ToText();
  if (!report_json.empty()) std::ofstream(report_json) << rep.ToJson() << "\n";
  if (!dot.empty()) std::ofstream(dot) << rep.dot;
  if (!emit_llvm.empty()) std::ofstream(emit_llvm) << llvm_ir;
  return 0;
}
