// kmeans: k-means clustering as a command-style Motivus algorithm (built by mvcc).
//
//   kmeans [-k K] [-i INPUT] [-o OUTPUT]
//
// Input, in this order of preference:
//   - the task's params `[points, k]`, which the loader writes to /motivus/params.json;
//   - INPUT (default /input/points.txt), a file the driver sends with preload_files: one
//     point per line, numbers separated by spaces or commas.
// Settings: /etc/kmeans.conf comes from the project's filesystem/ directory, packed into
//   the package's data.zip and mounted at / before main runs.
// Output:
//   - OUTPUT (default /output/labels.txt), one label per line, for result_files;
//   - /motivus/data.json, which the loader returns to the driver as the task's data;
//   - a summary on stdout; errors on stderr with a non-zero exit status.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "kmeans.hpp"

namespace fs = std::filesystem;

namespace {

const char* const kParamsFile = "/motivus/params.json";
const char* const kDataFile = "/motivus/data.json";
const char* const kConfigFile = "/etc/kmeans.conf";

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Reads `key = value` integer settings; a missing file keeps the defaults.
void read_config(long& k, int& max_iterations) {
    std::ifstream in(kConfigFile);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream row(line);
        std::string key, eq;
        long value = 0;
        if (!(row >> key >> eq >> value) || eq != "=") continue;
        if (key == "k") k = value;
        if (key == "max_iterations") max_iterations = static_cast<int>(value);
    }
}

void write_lines(const std::string& path, const std::vector<int>& labels) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream out(path);
    if (!out) throw std::runtime_error("cannot write " + path);
    for (int label : labels) out << label << '\n';
}

}  // namespace

int main(int argc, char** argv) {
    std::string input = "/input/points.txt";
    std::string output = "/output/labels.txt";
    long k = 2, k_arg = 0;
    int max_iterations = 300;
    try {
        read_config(k, max_iterations);
        for (int i = 1; i < argc; ++i) {
            const std::string arg = argv[i];
            if (arg == "-k" && i + 1 < argc) {
                k_arg = std::strtol(argv[++i], nullptr, 10);
                if (k_arg < 1) {
                    std::cerr << "kmeans: -k must be a positive integer, not " << argv[i] << '\n';
                    return 2;
                }
            } else if (arg == "-i" && i + 1 < argc) {
                input = argv[++i];
            } else if (arg == "-o" && i + 1 < argc) {
                output = argv[++i];
            } else {
                std::cerr << "kmeans: unknown argument " << arg << "\nusage: kmeans [-k K] [-i INPUT] [-o OUTPUT]\n";
                return 2;
            }
        }
        const std::string params = read_file(kParamsFile);
        const auto points = (!params.empty() && params != "null") ? parse_params(params, k) : read_points(input);
        if (k_arg > 0) k = k_arg;
        if (k < 1) {
            std::cerr << "kmeans: k must be a positive integer, not " << k << '\n';
            return 2;
        }
        const auto clustering = kmeans(points, static_cast<std::size_t>(k), max_iterations);
        std::cout << "kmeans: " << points.size() << " points, " << (points.empty() ? 0 : points.front().size())
                  << " dimensions, k = " << k << ", " << clustering.iterations << " iterations" << std::endl;
        write_lines(output, clustering.labels);

        fs::create_directories(fs::path(kDataFile).parent_path());
        std::ofstream data(kDataFile);
        data << '[';
        for (std::size_t i = 0; i < clustering.labels.size(); ++i) data << (i ? ", " : "") << clustering.labels[i];
        data << "]\n";
    } catch (const std::exception& error) {
        std::cerr << "kmeans: " << error.what() << '\n';
        return 2;
    }
    return 0;
}
