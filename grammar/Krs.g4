// KRS policy language grammar. No embedded actions: the parser only builds a parse tree, which
// never leaves compiler/parse/ (a transformer turns it into KRSIE's own AST).
grammar Krs;

file        : item* EOF ;
item        : importDecl | policyDecl ;
importDecl  : IMPORT STRING ';' ;
policyDecl  : POLICY name=IDENT '{' '}' ;

IMPORT      : 'import' ;
POLICY      : 'policy' ;
IDENT       : [a-zA-Z_] [a-zA-Z0-9_-]* ;
STRING      : '"' ( '\\' . | ~["\\\r\n] )* '"' ;
LINE_COMMENT: '#' ~[\r\n]* -> skip ;
WS          : [ \t\r\n]+ -> skip ;
ERROR_CHAR  : . ;
