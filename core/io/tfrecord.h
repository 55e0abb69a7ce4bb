// TFRecord files: records framed as length, masked CRC-32C of the length, data, masked CRC-32C of the data.
#pragma once
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

namespace scorch::io {

// Appends records to a file (created when missing). flush() pushes them to the disk, so a process killed
// later loses nothing written before the flush; a record cut by a crash is the file's last, and readers
// that follow TensorFlow's (TensorBoard's included) stop there.
class RecordWriter {
 public:
  explicit RecordWriter(const std::string& path);
  ~RecordWriter();
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;

  void write(const std::string& data);
  void flush();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// Reads records in order, verifying both CRCs; a bad CRC, a length past the end of the file or a file cut
// inside a record is an Error naming the file and the record's index.
class RecordReader {
 public:
  explicit RecordReader(const std::string& path);
  bool next(std::string& data);                // false after the last record
  int64_t index() const { return index_; }     // of the record next() returned last
  uint64_t offset() const { return offset_; }  // in bytes, of the record next() returned last
  // Goes to the record that starts `offset` bytes into the file, which is record `index` (for messages).
  void seek(uint64_t offset, int64_t index);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream in_;
  uint64_t size_ = 0, pos_ = 0, offset_ = 0;
  int64_t index_ = -1;
};

}  // namespace scorch::io
