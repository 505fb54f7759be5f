// A small C++ program built inside an armroot environment by scripts/setup.
#include <sys/utsname.h>

#include <iostream>
#include <string>
#include <vector>

int main() {
    utsname u{};
    uname(&u);
    std::vector<std::string> words{"hello", "from", u.machine};
    std::string line;
    for (const auto& w : words) line += (line.empty() ? "" : " ") + w;
    std::cout << line << std::endl;
    return 0;
}
