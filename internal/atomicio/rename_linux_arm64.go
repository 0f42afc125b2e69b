package atomicio

const sysRenameat2 = 276
