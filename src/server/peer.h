// Whether an HTTP client is still there. cpp-httplib 0.11 hands a handler
// neither its socket nor a "connection closed" check, so the socket is found
// by its addresses among this process's file descriptors.
#pragma once

#include <string>

namespace amanuensis::server {

// The connected socket whose local and peer ports are these; -1 if none.
int find_connection_socket(int local_port, const std::string& remote_addr, int remote_port);

// True once the peer has closed or reset the connection (poll, no blocking).
bool peer_gone(int socket);

}  // namespace amanuensis::server
