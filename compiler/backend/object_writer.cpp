// policy.o writer: the generic template object plus the policy's sections, via LLVM's objcopy
// library (the same code as llvm-objcopy --add-section).
#include <llvm/ObjCopy/CommonConfig.h>
#include <llvm/ObjCopy/ConfigManager.h>
#include <llvm/ObjCopy/ELF/ELFConfig.h>
#include <llvm/ObjCopy/ELF/ELFObjcopy.h>
#include <llvm/Object/ELFObjectFile.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "backend/generic.h"
#include "krsie/templates.h"

namespace krsie::backend {

namespace {

std::string write_object(const std::string& path, llvm::StringRef elf, const std::string& what,
                         const PolicySections& sections, bool strip_debug) {
  auto input = llvm::object::ObjectFile::createObjectFile(llvm::MemoryBufferRef(elf, what));
  if (!input) return "cannot read " + what + ": " + llvm::toString(input.takeError());
  auto* elf_object = llvm::dyn_cast<llvm::object::ELFObjectFileBase>(input->get());
  if (!elf_object) return what + " is not an ELF object";

  llvm::objcopy::CommonConfig config;
  config.InputFilename = what;
  config.OutputFilename = path;
  // DWARF is only the carrier of BTF at code generation (llvm-strip -g keeps .BTF and .BTF.ext).
  config.StripDebug = strip_debug;
  auto bytes_of = [](const std::vector<std::uint8_t>& v) {
    return llvm::StringRef(reinterpret_cast<const char*>(v.data()), v.size());
  };
  config.AddSection.emplace_back(".krsie.meta", llvm::MemoryBuffer::getMemBufferCopy(sections.metadata, ".krsie.meta"));
  if (!sections.loader_table.empty())  // empty: a format-1 object (the unit tests write those)
    config.AddSection.emplace_back(".krsie.load",
                                   llvm::MemoryBuffer::getMemBufferCopy(bytes_of(sections.loader_table), ".krsie.load"));
  config.AddSection.emplace_back(".krsie.maps", llvm::MemoryBuffer::getMemBufferCopy(bytes_of(sections.maps), ".krsie.maps"));
  llvm::objcopy::ELFConfig elf_config;

  std::string bytes;
  llvm::raw_string_ostream out(bytes);
  if (llvm::Error err = llvm::objcopy::elf::executeObjcopyOnBinary(config, elf_config, *elf_object, out))
    return "writing policy object: " + llvm::toString(std::move(err));
  out.flush();

  // Write aside and rename: a crash or a full disk never leaves a partial policy.o behind.
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
    if (!file) return "cannot write " + tmp;
    file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    file.close();
    if (!file) {
      std::remove(tmp.c_str());
      return "cannot write " + tmp;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    return "cannot create " + path + ": " + ec.message();
  }
  return "";
}

}  // namespace

std::string write_policy_object(const std::string& path, const PolicySections& sections) {
  const templates::Template* tmpl = templates::find("generic");
  if (!tmpl) return "the generic template is not embedded in this krsiec";
  llvm::StringRef elf(reinterpret_cast<const char*>(tmpl->elf.data()), tmpl->elf.size());
  return write_object(path, elf, "generic.bpf.o", sections, false);
}

std::string write_policy_object(const std::string& path, const std::vector<std::uint8_t>& elf_bytes,
                                const PolicySections& sections) {
  llvm::StringRef elf(reinterpret_cast<const char*>(elf_bytes.data()), elf_bytes.size());
  return write_object(path, elf, "policy code", sections, true);
}

}  // namespace krsie::backend
