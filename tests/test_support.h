// Helpers shared by the GoogleTest files.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace amanuensis::test {

// f() must throw an E whose message is one line containing `needle`.
template <class E, class F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one saying '" << needle << "'";
  } catch (const E& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(needle), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "not one line: " << message;
  }
}

}  // namespace amanuensis::test
