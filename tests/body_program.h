// Kernel bodies for tests, written in a compact text:
//   t0 = mul $0 $1; t1 = gt t0 0; t2 = where t1 t0 -inf
// `$i` is argument i, `tK` an earlier instruction, a number (or inf, -inf) a
// constant; parameters (leaky_relu's slope, clamp's bounds) follow the
// operands; the last instruction is the result. Values are f32 except what
// comparisons make (bool). With `storage` other than f32 every argument is of
// that dtype, cast to f32 where it is read, and the result is cast back: the
// body convert-f16 leaves (ir::RetypeBody). Emitter and interpreter tests use
// it to state a body in a line; the compiler itself lowers IR regions.
#ifndef SINTER_TESTS_BODY_PROGRAM_H_
#define SINTER_TESTS_BODY_PROGRAM_H_

#include <cstdlib>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/format/kernel_body.h"

namespace sinter::testing {

inline format::KernelBody BodyFromProgram(std::string_view text, int num_inputs,
                                          format::DType storage = format::DType::F32) {
  using format::BodyInstr;
  using format::BodyOp;
  using format::DType;
  format::KernelBody b;
  b.args.assign(num_inputs, storage);
  auto next = [&] { return static_cast<int32_t>(b.args.size() + b.instrs.size()); };
  std::vector<int32_t> arg(num_inputs), temp;
  for (int i = 0; i < num_inputs; ++i) {
    arg[i] = i;
    if (storage != DType::F32) {
      b.instrs.push_back(BodyInstr{BodyOp::kCast, DType::F32, i});
      arg[i] = next() - 1;
    }
  }
  auto number = [](const std::string& t, float* v) {
    if (t == "inf" || t == "-inf") {
      *v = (t[0] == '-' ? -1 : 1) * std::numeric_limits<float>::infinity();
      return true;
    }
    char* end = nullptr;
    *v = std::strtof(t.c_str(), &end);
    return !t.empty() && end == t.c_str() + t.size();
  };
  std::stringstream all{std::string(text)};
  std::string line;
  while (std::getline(all, line, ';')) {
    std::istringstream in(line);
    std::string dst, eq, name;
    in >> dst >> eq >> name;
    if (dst.empty()) continue;
    BodyOp op;
    if (eq != "=" || !format::BodyOpByName(name, &op)) {
      ADD_FAILURE() << "bad program line '" << line << "'";
      return {};
    }
    const format::BodyOpInfo& row = format::InfoOf(op);
    BodyInstr ins{op, row.cls == format::BodyClass::kCompare ? DType::BOOL : DType::F32};
    int32_t* operand[3] = {&ins.a, &ins.b, &ins.c};
    for (int k = 0; k < row.arity; ++k) {
      std::string tok;
      in >> tok;
      float v;
      if (!tok.empty() && tok[0] == '$') {
        *operand[k] = arg.at(std::stoi(tok.substr(1)));
      } else if (!tok.empty() && tok[0] == 't') {
        *operand[k] = temp.at(std::stoi(tok.substr(1)));
      } else if (number(tok, &v)) {
        b.instrs.push_back(BodyInstr{BodyOp::kConst, DType::F32, -1, -1, -1, v});
        *operand[k] = next() - 1;
      } else {
        ADD_FAILURE() << "bad operand '" << tok << "' in '" << line << "'";
        return {};
      }
    }
    // A where over bool operands is bool.
    if (row.cls == format::BodyClass::kSelect) ins.type = b.type_of(ins.b);
    std::string tok;
    for (int k = 0; k < row.num_params && in >> tok; ++k) {
      if (!number(tok, k == 0 ? &ins.p0 : &ins.p1)) ADD_FAILURE() << "bad parameter " << tok;
    }
    b.instrs.push_back(ins);
    temp.push_back(next() - 1);
  }
  b.result = temp.empty() ? -1 : temp.back();
  if (storage != DType::F32 && b.result >= 0 && b.type_of(b.result) == DType::F32) {
    b.instrs.push_back(BodyInstr{BodyOp::kCast, storage, b.result});
    b.result = next() - 1;
  }
  std::string error;
  EXPECT_TRUE(format::CheckKernelBody(b, &error)) << error << " in '" << text << "'";
  return b;
}

}  // namespace sinter::testing

#endif  // SINTER_TESTS_BODY_PROGRAM_H_
