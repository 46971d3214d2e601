// KRS policy language grammar (reference: docs/language.md).
//
// No embedded actions: the parser only builds a parse tree, which never leaves compiler/parse/;
// compiler/parse/ast_builder.cpp turns it into KRSIE's own AST. Keywords are soft: wherever a
// name is expected (`ident`), a keyword is accepted too, so fields such as `family`, `mode` or
// `path` and hooks such as `bpf` need no quoting.
grammar Krs;

file          : topItem* EOF ;
topItem       : importDecl | letDecl | rulesetDecl | policyDecl ;

importDecl    : IMPORT STRING ';' ;
letDecl       : LET ident '=' value ';' ;
rulesetDecl   : RULESET ident '{' ruleItem* '}' ;
policyDecl    : POLICY ident '{' policyItem* '}' ;

policyItem    : targetDecl | modeDecl | defaultDecl | ruleItem ;
targetDecl    : TARGET CGROUP value ';'                              # cgroupTarget
              | TARGET POD selectorPart+ ';'                         # podTarget
              ;
selectorPart  : NAMESPACE value                                      # namespaceSelector
              | LABELS '{' (labelPair (',' labelPair)* ','?)? '}'    # labelsSelector
              | CONTAINER value                                      # containerSelector
              ;
labelPair     : key=labelKey ('=' | ':') val=STRING ;
labelKey      : ident | STRING ;
modeDecl      : MODE ident ';' ;
defaultDecl   : DEFAULT ident ident ';' ;

ruleItem      : ruleStmt | fromBlock | useDecl ;
fromBlock     : FROM valueList '{' ruleItem* '}' ;
useDecl       : USE ident ';' ;

ruleStmt      : action body=domainRule ruleOption* ';'              # domainRuleStmt
              | ON hook=ident (WHEN condition)? action ruleOption* ';' # hookRuleStmt
              | READONLY valueList ruleOption* ';'                  # readonlyStmt
              | OWNER_ONLY valueList ruleOption* ';'                # ownerOnlyStmt
              ;
action        : ALLOW | DENY | AUDIT | KILL ;
ruleOption    : ERRNO ident                                          # errnoOption
              | MESSAGE STRING                                       # messageOption
              | TAG STRING                                           # tagOption
              | IF NOT? OWNER                                        # ownerOption
              ;

domainRule    : FILE nameList valueList                              # fileRule
              | EXEC valueList                                       # execRule
              | NETWORK nameList netClause*                          # networkRule
              | CAPABILITY valueList                                 # capabilityRule
              | kind=(SETUID | SETGID) (TO valueList)?               # identityRule
              | PTRACE nameList?                                     # ptraceRule
              | MOUNT valueList?                                     # mountRule
              | MODULE LOAD?                                         # moduleRule
              | BPF valueList?                                       # bpfRule
              | SIGNAL valueList? (TO scope=ident)?                  # signalRule
              ;
netClause     : kw=(TO | ADDR) valueList
              | kw=PORT valueList
              | kw=FAMILY valueList
              | kw=TYPE valueList
              | kw=PROTOCOL valueList
              ;

nameList      : ident (',' ident)* ;
valueList     : value (',' value)* ;

condition     : '(' condition ')'                                    # parenCond
              | NOT condition                                        # notCond
              | condition AND condition                              # andCond
              | condition OR condition                               # orCond
              | lhs=operand op=compareOp rhs=operand                 # compareCond
              | lhs=operand NOT? IN rhs=value                        # inCond
              | lhs=operand HAS rhs=operand                          # hasCond
              | ident                                                # boolCond
              ;
compareOp     : '==' | '!=' | '<' | '<=' | '>' | '>=' ;
operand       : ident ('.' ident)*                                    // a field, or PARAM.member... (typed hook argument)
              | literal
              ;

value         : lo=literal '..' hi=literal                           # rangeValue
              | literal                                              # literalValue
              | ident                                                # nameValue
              | '[' (value (',' value)* ','?)? ']'                   # listValue
              ;
literal       : INT | STRING | IPV4 | TRUE | FALSE ;

ident         : IDENT
              | IMPORT | LET | RULESET | POLICY | TARGET | CGROUP | POD | NAMESPACE | LABELS
              | CONTAINER | MODE | DEFAULT | FROM | USE | ON | WHEN | ALLOW | DENY | AUDIT | KILL
              | ERRNO | MESSAGE | TAG | IF | OWNER | FILE | EXEC | NETWORK | CAPABILITY | SETUID
              | SETGID | PTRACE | MOUNT | MODULE | LOAD | BPF | SIGNAL | TO | ADDR | PORT | FAMILY
              | TYPE | PROTOCOL | IN | HAS | READONLY | OWNER_ONLY
              ;

IMPORT     : 'import' ;
LET        : 'let' ;
RULESET    : 'ruleset' ;
POLICY     : 'policy' ;
TARGET     : 'target' ;
CGROUP     : 'cgroup' ;
POD        : 'pod' ;
NAMESPACE  : 'namespace' ;
LABELS     : 'labels' ;
CONTAINER  : 'container' ;
MODE       : 'mode' ;
DEFAULT    : 'default' ;
FROM       : 'from' ;
USE        : 'use' ;
ON         : 'on' ;
WHEN       : 'when' ;
ALLOW      : 'allow' ;
DENY       : 'deny' ;
AUDIT      : 'audit' ;
KILL       : 'kill' ;
ERRNO      : 'errno' ;
MESSAGE    : 'message' ;
TAG        : 'tag' ;
IF         : 'if' ;
OWNER      : 'owner' ;
FILE       : 'file' ;
EXEC       : 'exec' ;
NETWORK    : 'network' ;
CAPABILITY : 'capability' ;
SETUID     : 'setuid' ;
SETGID     : 'setgid' ;
PTRACE     : 'ptrace' ;
MOUNT      : 'mount' ;
MODULE     : 'module' ;
LOAD       : 'load' ;
BPF        : 'bpf' ;
SIGNAL     : 'signal' ;
TO         : 'to' ;
ADDR       : 'addr' ;
PORT       : 'port' ;
FAMILY     : 'family' ;
TYPE       : 'type' ;
PROTOCOL   : 'protocol' ;
IN         : 'in' ;
HAS        : 'has' ;
READONLY   : 'readonly' ;
OWNER_ONLY : 'owner_only' ;
AND        : 'and' | '&&' ;
OR         : 'or' | '||' ;
NOT        : 'not' | '!' ;
TRUE       : 'true' ;
FALSE      : 'false' ;

IPV4       : DEC '.' DEC '.' DEC '.' DEC ('/' DEC)? ;
INT        : '0x' [0-9a-fA-F_]+ | '0o' [0-7_]+ | '0b' [01_]+ | DEC ;
IDENT      : [a-zA-Z_] [a-zA-Z0-9_-]* ;
STRING     : '"' ( '\\' . | ~["\\\r\n] )* '"' ;
LINE_COMMENT  : ('#' | '//') ~[\r\n]* -> skip ;
BLOCK_COMMENT : '/*' .*? '*/' -> skip ;
WS         : [ \t\r\n]+ -> skip ;
// Anything else becomes one token the parser reports (an unterminated string, stray bytes).
UNTERMINATED_STRING : '"' ( '\\' . | ~["\\\r\n] )* ;
ERROR_CHAR : . ;

fragment DEC : [0-9] [0-9_]* ;
