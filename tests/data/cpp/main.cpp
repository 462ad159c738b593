// A command-style Motivus algorithm in C++ (see docs/c-cpp.md):
//
//   program NAME [--exit N] [--abort]
//
// - argv[1] is a name to greet;
// - /share/greeting.txt comes from the project's filesystem/ directory (the package's
//   .data.zip, unpacked at / before main);
// - /input/numbers.txt is a preloaded file (the task's preload_files): its integers are
//   summed and sorted;
// - /output/result.txt is written for the task's result_files;
// - /motivus/params.json holds the task's params as JSON; /motivus/data.json, if written,
//   becomes the task's `data` result;
// - the exit status is the task's exitCode (--exit N returns N, --abort crashes).
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "numbers.hpp"

namespace {

std::string read_text(const std::string &path, bool &ok) {
    std::ifstream in(path, std::ios::binary);
    ok = static_cast<bool>(in);
    std::ostringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
        s.pop_back();
    }
    return s;
}

bool exists(const std::string &path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0;
}

}  // namespace

int main(int argc, char **argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    const std::string name = args.empty() ? "nobody" : args[0];
    int status = 0;
    for (std::size_t i = 1; i < args.size(); ++i) {
        if (args[i] == "--exit" && i + 1 < args.size()) {
            status = std::stoi(args[++i]);
        } else if (args[i] == "--abort") {
            std::cerr << "aborting on request" << std::endl;
            std::abort();
        }
    }

    bool ok = false;
    const std::string greeting = read_text("/share/greeting.txt", ok);
    if (!ok) {
        std::cerr << "no /share/greeting.txt" << std::endl;
        return 2;
    }
    std::cout << greeting << ", " << name << "!" << std::endl;
    std::cerr << "working on " << name << std::endl;

    // A file left by an earlier task would show that tasks share state (they must not).
    std::cout << "state: " << (exists("/state.txt") ? "dirty" : "fresh") << std::endl;
    std::ofstream("/state.txt") << "touched\n";

    // Word lengths of the greeting, counted in an ordered map.
    std::map<std::size_t, int> lengths;
    std::istringstream words(greeting);
    for (std::string w; words >> w;) {
        ++lengths[w.size()];
    }

    demo::Stats stats;
    if (auto got = demo::read_stats("/input/numbers.txt")) {
        stats = *got;
    } else {
        std::cout << "no input" << std::endl;
    }
    std::cout << "sum=" << stats.sum << " count=" << stats.sorted.size() << std::endl;

    // /output exists only when the task asks for a result file there: the loader creates
    // result files' parent directories before main; this program does not.
    struct stat output_dir;
    if (stat("/output", &output_dir) == 0) {
        std::ofstream result("/output/result.txt");
        if (!result) {
            std::cerr << "cannot write /output/result.txt" << std::endl;
            return 2;
        }
        result << name << ": sum=" << stats.sum << " count=" << stats.sorted.size() << "\n";
        result.close();
    }

    std::string params = read_text("/motivus/params.json", ok);
    if (!ok) {
        params = "null";
    }
    std::ostringstream data;
    data << "{\"lang\": \"cpp\", \"name\": \"" << name << "\", \"sum\": " << stats.sum
         << ", \"count\": " << stats.sorted.size() << ", \"sorted\": [";
    for (std::size_t i = 0; i < stats.sorted.size(); ++i) {
        data << (i ? ", " : "") << stats.sorted[i];
    }
    data << "], \"word_lengths\": {";
    bool first = true;
    for (const auto &[length, n] : lengths) {
        data << (first ? "" : ", ") << "\"" << length << "\": " << n;
        first = false;
    }
    // params.json is JSON already: it is embedded as is.
    data << "}, \"params\": " << params << "}\n";
    std::ofstream("/motivus/data.json") << data.str();
    return status;
}
